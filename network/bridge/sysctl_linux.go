package bridge

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// EnableIPForward turns on net.ipv4.ip_forward when it is off.
func EnableIPForward() error {
	return setSysctl("/proc/sys/net/ipv4/ip_forward", "1")
}

// SetRouteLocalnet sets net.ipv4.conf.<iface>.route_localnet, which lets DNAT to 127.0.0.0/8 be routed.
func SetRouteLocalnet(iface string, on bool) error {
	if iface == "" || iface != filepath.Base(iface) || iface == "." || iface == ".." {
		return fmt.Errorf("invalid interface name %q", iface)
	}
	v := "0"
	if on {
		v = "1"
	}
	return setSysctl(filepath.Join("/proc/sys/net/ipv4/conf", iface, "route_localnet"), v)
}

func setSysctl(path, v string) error {
	cur, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("sysctl: %w", err)
	}
	if string(bytes.TrimSpace(cur)) == v {
		return nil
	}
	if err := os.WriteFile(path, []byte(v), 0o644); err != nil {
		return fmt.Errorf("sysctl: %w", err)
	}
	return nil
}
