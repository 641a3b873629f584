package nft

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/berth-dev/berth/errdefs"
	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// PortMapping publishes HostIP:HostPort/Proto on the host to ContainerIP:ContainerPort.
type PortMapping struct {
	ContainerID   string
	HostIP        netip.Addr // zero or 0.0.0.0: all host addresses
	HostPort      uint16
	Proto         string // "tcp" or "udp"
	ContainerIP   netip.Addr
	ContainerPort uint16
	Bridge        string
}

func (m PortMapping) validate() (PortMapping, error) {
	bad := func(f string, a ...any) (PortMapping, error) {
		return m, errdefs.InvalidParameter(fmt.Sprintf(f, a...))
	}
	if m.ContainerID == "" || strings.ContainsAny(m.ContainerID, ", \x00") {
		return bad("invalid container ID %q", m.ContainerID)
	}
	if err := validBridge(m.Bridge); err != nil {
		return m, err
	}
	if m.Proto != "tcp" && m.Proto != "udp" {
		return bad("invalid protocol %q: must be tcp or udp", m.Proto)
	}
	if m.HostPort == 0 || m.ContainerPort == 0 {
		return bad("invalid port mapping %d:%d", m.HostPort, m.ContainerPort)
	}
	m.HostIP = m.HostIP.Unmap()
	if m.HostIP.IsValid() && (!m.HostIP.Is4() || m.HostIP.IsUnspecified()) {
		if !m.HostIP.IsUnspecified() {
			return bad("invalid host IP %s: only IPv4 is supported", m.HostIP)
		}
		m.HostIP = netip.Addr{}
	}
	m.ContainerIP = m.ContainerIP.Unmap()
	if !m.ContainerIP.Is4() || m.ContainerIP.IsUnspecified() {
		return bad("invalid container IP %v", m.ContainerIP)
	}
	return m, nil
}

func (m PortMapping) tag() string {
	host := ""
	if m.HostIP.IsValid() {
		host = m.HostIP.String()
	}
	return fmt.Sprintf("%s%s,%s,%s,%d,%s,%s,%d", tagPort, m.ContainerID, m.Bridge, host, m.HostPort, m.Proto, m.ContainerIP, m.ContainerPort)
}

func parsePortTag(tag string) (PortMapping, bool) {
	rest, ok := strings.CutPrefix(tag, tagPort)
	f := strings.Split(rest, ",")
	if !ok || len(f) != 7 {
		return PortMapping{}, false
	}
	m := PortMapping{ContainerID: f[0], Bridge: f[1], Proto: f[4]}
	var err error
	if f[2] != "" {
		if m.HostIP, err = netip.ParseAddr(f[2]); err != nil {
			return m, false
		}
	}
	hp, err1 := strconv.ParseUint(f[3], 10, 16)
	cp, err2 := strconv.ParseUint(f[6], 10, 16)
	cip, err3 := netip.ParseAddr(f[5])
	if err1 != nil || err2 != nil || err3 != nil {
		return m, false
	}
	m.HostPort, m.ContainerPort, m.ContainerIP = uint16(hp), uint16(cp), cip
	return m, true
}

func protoNum(p string) byte {
	if p == "udp" {
		return unix.IPPROTO_UDP
	}
	return unix.IPPROTO_TCP
}

// AddPort installs the DNAT rules for one published port; adding the same mapping again replaces its rules.
func AddPort(m PortMapping) error {
	m, err := m.validate()
	if err != nil {
		return err
	}
	if !m.HostIP.IsValid() || m.HostIP.IsLoopback() {
		// Replies to 127.0.0.1-sourced connections come back through the bridge addressed to 127.0.0.1.
		p := "/proc/sys/net/ipv4/conf/" + m.Bridge + "/route_localnet"
		if err := os.WriteFile(p, []byte("1"), 0o644); err != nil {
			return fmt.Errorf("enable route_localnet on %s: %w", m.Bridge, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	c, err := nftables.New()
	if err != nil {
		return err
	}
	tag := m.tag()
	if err := delTagged(c, func(s string) bool { return s == tag }); err != nil {
		return err
	}
	ud := comment(tag)
	port, to := l4port(protoNum(m.Proto), m.HostPort), dnatTo(m.ContainerIP, m.ContainerPort)
	add := func(ch string, e ...any) {
		c.AddRule(&nftables.Rule{Table: table, Chain: chain(ch), UserData: ud, Exprs: cat(e...)})
	}
	switch {
	case !m.HostIP.IsValid():
		add(chainPre, localDst(), port, to)
		add(chainOut, localDst(), port, to)
	case m.HostIP.IsLoopback():
		// Only the host itself may reach a loopback-bound port: no prerouting rule.
		add(chainOut, daddr(m.HostIP), port, to)
	default:
		add(chainPre, daddr(m.HostIP), port, to)
		add(chainOut, daddr(m.HostIP), port, to)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: publish port %d/%s: %w", m.HostPort, m.Proto, err)
	}
	return nil
}

// RemovePorts deletes the DNAT rules of every port published for the container.
func RemovePorts(containerID string) error {
	if containerID == "" {
		return errdefs.InvalidParameter("empty container ID")
	}
	mu.Lock()
	defer mu.Unlock()
	c, err := nftables.New()
	if err != nil {
		return err
	}
	prefix := tagPort + containerID + ","
	if err := delTagged(c, func(s string) bool { return strings.HasPrefix(s, prefix) }); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: remove ports of %s: %w", containerID, err)
	}
	return nil
}

// Ports lists the port mappings present in the kernel ruleset.
func Ports() ([]PortMapping, error) {
	mu.Lock()
	defer mu.Unlock()
	c, err := nftables.New()
	if err != nil {
		return nil, err
	}
	rules, err := c.GetRules(table, chain(chainOut))
	if err != nil {
		return nil, fmt.Errorf("nftables: list rules: %w", err)
	}
	var out []PortMapping
	for _, r := range rules {
		if m, ok := parsePortTag(ruleTag(r)); ok {
			out = append(out, m)
		}
	}
	return out, nil
}

// PortInUse reports whether a socket on the host already holds hostIP:port/proto (zero hostIP: any address).
func PortInUse(hostIP netip.Addr, port uint16, proto string) bool {
	addr := net.JoinHostPort("", strconv.Itoa(int(port)))
	if hostIP.IsValid() {
		addr = net.JoinHostPort(hostIP.Unmap().String(), strconv.Itoa(int(port)))
	}
	var err error
	if proto == "udp" {
		var pc net.PacketConn
		if pc, err = net.ListenPacket("udp4", addr); err == nil {
			pc.Close()
		}
	} else {
		var l net.Listener
		if l, err = net.Listen("tcp4", addr); err == nil {
			l.Close()
		}
	}
	return errors.Is(err, syscall.EADDRINUSE)
}
