# vnetbench, the ebpf_routing platform: tc ingress of the machine's side of an end's veth.
# An IPv4 packet for the peer end's subnet leaves at once by the machine's bridge, to the peer
# machine as next hop (bpf_redirect_neigh, helper 152: the neighbour table fills in the MACs);
# the machine's routing and forwarding never see it. Everything else (ARP, ...) goes on as usual.
# Assembled with `llvm-mc -triple bpfel -filetype=obj -I bpf/` (common.inc: the shared parts);
# the names in braces are filled in at build time (vnetbench.ebpf).
	.include	"common.inc"
	.section	tc,"ax",@progbits
	.globl	to_wire
	.type	to_wire,@function
to_wire:
	for_subnet {peer_subnet}
	r4 = 2				# struct bpf_redir_neigh: nh_family = AF_INET,
	*(u32 *)(r10 - 20) = r4
	r4 = {next_hop} ll		# ipv4_nh (network order),
	*(u32 *)(r10 - 16) = r4
	r4 = 0				# and the rest of the union
	*(u32 *)(r10 - 12) = r4
	*(u64 *)(r10 - 8) = r4
	r1 = {bridge_ifindex}
	r2 = r10
	r2 += -20
	r3 = 20
	r4 = 0
	call 152			# bpf_redirect_neigh
	exit
	end_program to_wire
