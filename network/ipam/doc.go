// Package ipam allocates IPv4 subnets from address pools, like dockerd's
// default-address-pools, and container addresses inside one network's subnet.
package ipam
