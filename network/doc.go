// Package network holds the types shared by Berth's network drivers: the
// Endpoint a container gets on a network and the Driver interface that attaches it.
package network
