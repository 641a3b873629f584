// Package dns is Berth's embedded DNS server: it answers container names,
// short IDs and network aliases per network (as Docker's 127.0.0.11 resolver
// does), resolves host.docker.internal to the network's gateway, and forwards
// every other query to the host's upstream resolvers. It also renders a
// container's /etc/resolv.conf the way Docker does.
//
// The server runs in the host's network namespace and listens on each
// bridge's gateway address, so loopback upstreams from the host's resolv.conf
// (such as systemd-resolved's 127.0.0.53 stub) are reachable and are used.
package dns
