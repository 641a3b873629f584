package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"sort"
	"strings"

	"github.com/berth-dev/berth/network/ipam"
)

// FileConfig is the subset of dockerd's daemon.json that Berth reads; unknown keys are
// refused as dockerd refuses them.
type FileConfig struct {
	DataRoot           string                     `json:"data-root,omitempty"`
	ExecRoot           string                     `json:"exec-root,omitempty"`
	Hosts              []string                   `json:"hosts,omitempty"`
	RegistryMirrors    []string                   `json:"registry-mirrors,omitempty"`
	InsecureRegistries []string                   `json:"insecure-registries,omitempty"`
	Debug              bool                       `json:"debug,omitempty"`
	DefaultRuntime     string                     `json:"default-runtime,omitempty"`
	Runtimes           map[string]RuntimeConfig   `json:"runtimes,omitempty"`
	LogLevel           string                     `json:"log-level,omitempty"`
	LiveRestore        *bool                      `json:"live-restore,omitempty"`
	LogDriver          string                     `json:"log-driver,omitempty"`
	LogOpts            map[string]string          `json:"log-opts,omitempty"`
	Extra              map[string]json.RawMessage `json:"-"`

	// RegistryMirrorsByHost is Berth's own key: mirrors of any registry by host[:port].
	RegistryMirrorsByHost map[string][]string `json:"registry-mirrors-by-host,omitempty"`

	// Networking: the default bridge's name and gateway/prefix, and the pools that
	// automatic subnets come from (dockerd's "bridge", "bip", "default-address-pools").
	Bridge              string      `json:"bridge,omitempty"`
	Bip                 string      `json:"bip,omitempty"`
	DefaultAddressPools []ipam.Pool `json:"default-address-pools,omitempty"`
}

// RuntimeConfig is one entry of daemon.json's "runtimes".
type RuntimeConfig struct {
	Path        string   `json:"path"`
	RuntimeArgs []string `json:"runtimeArgs,omitempty"`
}

// known keys that Berth accepts and ignores for now (networking, storage tuning, ...).
var tolerated = map[string]bool{
	"dns": true, "dns-search": true, "dns-opts": true,
	"storage-driver": true, "storage-opts": true, "iptables": true, "ip-forward": true, "ip-masq": true,
	"userland-proxy": true, "features": true, "builder": true, "experimental": true, "labels": true,
	"max-concurrent-downloads": true, "max-concurrent-uploads": true, "shutdown-timeout": true,
	"default-ulimits": true, "cgroup-parent": true, "exec-opts": true, "group": true, "pidfile": true,
	"ipv6": true, "fixed-cidr": true, "mtu": true, "tls": true, "tlsverify": true, "tlscacert": true,
	"tlscert": true, "tlskey": true,
}

// LoadConfigFile reads a daemon.json. A missing file is an empty config when optional.
func LoadConfigFile(path string, optional bool) (*FileConfig, map[string]bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if optional && errors.Is(err, fs.ErrNotExist) {
			return &FileConfig{}, map[string]bool{}, nil
		}
		return nil, nil, fmt.Errorf("unable to configure the Berth daemon with file %s: %w", path, err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, nil, fmt.Errorf("unable to configure the Berth daemon with file %s: %v", path, err)
	}
	known := map[string]bool{
		"data-root": true, "exec-root": true, "hosts": true, "registry-mirrors": true, "registry-mirrors-by-host": true, "insecure-registries": true,
		"debug": true, "default-runtime": true, "runtimes": true, "log-level": true, "live-restore": true,
		"log-driver": true, "log-opts": true, "bridge": true, "bip": true, "default-address-pools": true,
	}
	var unknown []string
	set := map[string]bool{}
	for k := range raw {
		set[k] = true
		if !known[k] && !tolerated[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, nil, fmt.Errorf("unable to configure the Berth daemon with file %s: the following directives don't match any configuration option: %s", path, strings.Join(unknown, ", "))
	}
	var fc FileConfig
	if err := json.Unmarshal(data, &fc); err != nil {
		return nil, nil, fmt.Errorf("unable to configure the Berth daemon with file %s: %v", path, err)
	}
	return &fc, set, nil
}

// NetworkConfig checks the networking settings (bridge, bip, default-address-pools).
func (fc *FileConfig) NetworkConfig() (bridgeName string, bip netip.Prefix, pools []ipam.Pool, err error) {
	if b := fc.Bridge; b != "" && (len(b) > 15 || strings.ContainsAny(b, "/ :\t\n")) {
		return "", bip, nil, fmt.Errorf("invalid bridge name %q: at most 15 characters, no spaces, '/' or ':'", b)
	}
	if fc.Bip != "" {
		if bip, err = netip.ParsePrefix(fc.Bip); err != nil || !bip.Addr().Is4() || bip.Bits() > 30 || bip.Addr() == bip.Masked().Addr() {
			return "", bip, nil, fmt.Errorf("invalid bip %q: want an IPv4 gateway address with its prefix length, e.g. 172.17.0.1/16", fc.Bip)
		}
	}
	for _, p := range fc.DefaultAddressPools {
		if !p.Base.Addr().Is4() || p.Size < p.Base.Bits() || p.Size > 30 {
			return "", bip, nil, fmt.Errorf("invalid default-address-pools entry base %s size %d", p.Base, p.Size)
		}
	}
	return fc.Bridge, bip, fc.DefaultAddressPools, nil
}
