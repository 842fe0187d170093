# vnetbench, the ebpf_routing platform: tc ingress of the machine's end of the wire.
# An IPv4 packet for this machine's end goes straight into the end's namespace, to the ingress
# of the end's device (bpf_redirect_peer, helper 155, through the machine's side of its veth),
# with the end's MAC and the veth's as its Ethernet addresses: neither the machine's bridge nor
# its routing sees it. Everything else goes on to the bridge as usual.
# Assembled with `llvm-mc -triple bpfel -filetype=obj -I bpf/` (common.inc: the shared parts);
# the names in braces are filled in at build time (vnetbench.ebpf).
	.include	"common.inc"
	.section	tc,"ax",@progbits
	.globl	to_end
	.type	to_end,@function
to_end:
	for_subnet {own_subnet}
	r4 = {end_mac_0_3} ll		# destination: the end's device
	*(u32 *)(r2 + 0) = r4
	r4 = {end_mac_4_5}
	*(u16 *)(r2 + 4) = r4
	r4 = {veth_mac_0_1}		# source: the machine's side of the veth
	*(u16 *)(r2 + 6) = r4
	r4 = {veth_mac_2_5} ll
	*(u32 *)(r2 + 8) = r4
	r1 = {veth_ifindex}
	r2 = 0
	call 155			# bpf_redirect_peer
	exit
	end_program to_end
