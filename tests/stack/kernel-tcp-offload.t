#!/bin/sh
# tests/stack/kernel-tcp.t again, with offloads on the stack's TAP device
# (kwtcp --offload: IFF_VNET_HDR, TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4)):
# the same 64 MiB each way with SHA-256 compared, close and reset both
# ways, and that large segments really went out and came in.
KW_KTCP_OFFLOAD=1
export KW_KTCP_OFFLOAD
exec "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/stack/kernel-tcp.t"
