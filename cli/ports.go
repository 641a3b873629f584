package cli

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/network"
)

// parsePublish turns -p specs into the ports to expose and their host bindings, the way
// the docker CLI does. A spec is [[IP:][HOST_PORT[-END]]:]PORT[-END][/PROTO], or the
// long form published=…,target=…,protocol=….
func parsePublish(specs []string) (network.PortSet, network.PortMap, error) {
	exposed := network.PortSet{}
	bindings := network.PortMap{}
	for _, spec := range specs {
		if strings.Contains(spec, "=") {
			var err error
			if spec, err = longPublish(spec); err != nil {
				return nil, nil, err
			}
		}
		if err := parsePortSpec(spec, exposed, bindings); err != nil {
			return nil, nil, err
		}
	}
	return exposed, bindings, nil
}

// longPublish rewrites published=H,target=C[,protocol=P] as H:C/P.
func longPublish(spec string) (string, error) {
	published, target, proto := "", "", "tcp"
	for _, field := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(field, "=")
		if !ok || k == "" {
			return "", fmt.Errorf("invalid publish opts format (should be name=value but got '%s')", field)
		}
		switch k {
		case "published":
			published = v
		case "target":
			target = v
		case "protocol":
			proto = v
		}
	}
	return published + ":" + target + "/" + proto, nil
}

// parsePortSpec adds the container ports of one short-form spec to exposed and their
// bindings to bindings.
func parsePortSpec(spec string, exposed network.PortSet, bindings network.PortMap) error {
	var ip, hostPort, ctrPort string
	parts := strings.Split(spec, ":")
	switch n := len(parts); n {
	case 1:
		ctrPort = parts[0]
	case 2:
		hostPort, ctrPort = parts[0], parts[1]
	default: // an IPv6 address holds colons of its own
		ip, hostPort, ctrPort = strings.Join(parts[:n-2], ":"), parts[n-2], parts[n-1]
	}
	proto, ctrPort := splitProtoPort(ctrPort) // an empty port gives an empty, invalid protocol
	proto = strings.ToLower(proto)
	switch proto {
	case "tcp", "udp", "sctp":
	default:
		return errors.New("invalid proto: " + proto)
	}

	var hostIP netip.Addr
	if strings.HasPrefix(ip, "[") {
		host, _, err := net.SplitHostPort(ip + ":")
		if err != nil {
			return fmt.Errorf("invalid IP address %v: %w", ip, err)
		}
		ip = host
	}
	if ip != "" {
		a, err := netip.ParseAddr(ip)
		if err != nil || a.Zone() != "" {
			return errors.New("invalid IP address: " + ip)
		}
		hostIP = a
	}
	start, end, err := parsePortRange(ctrPort)
	if err != nil {
		return errors.New("invalid containerPort: " + ctrPort)
	}
	var hostStart, hostEnd uint16
	if hostPort != "" {
		if hostStart, hostEnd, err = parsePortRange(hostPort); err != nil {
			return errors.New("invalid hostPort: " + hostPort)
		}
		// A host range may differ in length only when it serves a single container port.
		if end-start != hostEnd-hostStart && end != start {
			return fmt.Errorf("invalid ranges specified for container and host Ports: %s and %s", ctrPort, hostPort)
		}
	}
	for i := uint32(0); i <= uint32(end-start); i++ {
		p, _ := network.PortFrom(start+uint16(i), network.IPProtocol(proto))
		b := network.PortBinding{HostIP: hostIP}
		if hostPort != "" {
			b.HostPort = strconv.Itoa(int(hostStart) + int(i))
			if start == end && hostStart != hostEnd {
				b.HostPort += "-" + strconv.Itoa(int(hostEnd))
			}
		}
		exposed[p] = struct{}{}
		bindings[p] = append(bindings[p], b)
	}
	return nil
}

// parseExpose adds the ports of --expose values (PORT[-END][/PROTO]) to exposed.
func parseExpose(specs []string, exposed network.PortSet) error {
	for _, e := range specs {
		if strings.Contains(e, ":") {
			return fmt.Errorf("invalid port format for --expose: %s", e)
		}
		proto, port := splitProtoPort(e)
		start, end, err := parsePortRange(port)
		if err != nil {
			return fmt.Errorf("invalid range format for --expose: %s, error: %s", e, err)
		}
		for n := uint32(start); n <= uint32(end); n++ {
			p, _ := network.PortFrom(uint16(n), network.IPProtocol(proto))
			exposed[p] = struct{}{}
		}
	}
	return nil
}

// splitProtoPort splits PORT[/PROTO], the protocol defaulting to tcp; an empty port gives
// an empty protocol.
func splitProtoPort(s string) (proto, port string) {
	port, proto, _ = strings.Cut(s, "/")
	if port == "" {
		return "", ""
	}
	if proto == "" {
		proto = "tcp"
	}
	return proto, port
}

// parsePortRange parses PORT or START-END.
func parsePortRange(s string) (start, end uint16, err error) {
	if s == "" {
		return 0, 0, errors.New("empty string specified for ports")
	}
	first, last, isRange := strings.Cut(s, "-")
	a, err := strconv.ParseUint(first, 10, 16)
	if err != nil {
		return 0, 0, err
	}
	if !isRange {
		return uint16(a), uint16(a), nil
	}
	b, err := strconv.ParseUint(last, 10, 16)
	if err != nil {
		return 0, 0, err
	}
	if b < a {
		return 0, 0, errors.New("invalid range specified for port: " + s)
	}
	return uint16(a), uint16(b), nil
}
