// Package bridge builds Berth's Linux bridges and connects containers to them
// with veth pairs, through netlink. It only ever touches bridges and veths it
// created, which it marks with an interface alias.
package bridge
