# vnetbench, the ebpf_routing platform: tc ingress of the machine's end of the wire.
# An IPv4 packet for this machine's end goes straight into the end's namespace, to the ingress
# of the end's device (bpf_redirect_peer, helper 155, through the machine's side of its veth),
# with the end's MAC and the veth's as its Ethernet addresses: neither the machine's bridge nor
# its routing sees it. Everything else goes on to the bridge as usual.
# Assembled with `llvm-mc -triple bpfel -filetype=obj`; the names in braces are filled in at build time (vnetbench.ebpf).
	.section	tc,"ax",@progbits
	.globl	to_end
	.type	to_end,@function
to_end:
	r2 = *(u32 *)(r1 + 76)		# skb->data
	r3 = *(u32 *)(r1 + 80)		# skb->data_end
	r4 = r2
	r4 += 34			# Ethernet and IPv4 headers
	if r4 > r3 goto pass
	r4 = *(u16 *)(r2 + 12)
	if r4 != 8 goto pass		# ETH_P_IP, in network order
	r4 = *(u32 *)(r2 + 30)		# the destination address
	r4 &= 16777215			# its /24
	if r4 != {own_subnet} goto pass
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
pass:
	r0 = 0				# TC_ACT_OK
	exit
	.size	to_end, .-to_end

	.section	license,"aw",@progbits
	.asciz	"GPL"
