// Package nft keeps Berth's packet-filter state in nftables: masquerade,
// forwarding and isolation for bridge networks, and DNAT for published ports.
// Every rule carries a comment tag naming its bridge or container, so the
// state can be read back from the kernel after a daemon restart.
package nft
