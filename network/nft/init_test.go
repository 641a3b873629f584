package nft

import (
	"maps"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/network/bridge"
)

// TestInitRepairs runs in a network namespace of its own (nftables state is per namespace),
// so the host's Berth table is not touched.
func TestInitRepairs(t *testing.T) {
	requireRoot(t)
	ns := filepath.Join(t.TempDir(), "ns")
	if err := bridge.NewNetNS(ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bridge.DeleteNetNS(ns) })
	nft := func(args ...string) string {
		t.Helper()
		return sh(t, append([]string{"nsenter", "--net=" + ns, "nft"}, args...)...)
	}
	in := func(f func() error) {
		t.Helper()
		if err := bridge.InNetNS(ns, f); err != nil {
			t.Fatal(err)
		}
	}
	// first returns the first rule line of a chain.
	first := func(chain string) string {
		out := nft("list", "chain", "ip", TableName, chain)
		for _, line := range strings.Split(out, "\n") {
			if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "table") && !strings.HasPrefix(l, "chain") &&
				!strings.HasPrefix(l, "type") && l != "}" {
				return l
			}
		}
		return ""
	}
	in(Init)
	in(func() error { return AddNetwork("btinit0", netip.MustParsePrefix("10.211.0.0/24"), false) })
	want := nft("list", "table", "ip", TableName)
	if strings.Count(want, `comment "berth:init"`) != 3 {
		t.Fatalf("fresh table:\n%s", want)
	}
	in(Init) // idempotent
	if got := nft("list", "table", "ip", TableName); got != want {
		t.Fatalf("second Init changed the table:\n%s\nwant:\n%s", got, want)
	}

	// Lose the fixed rules of two chains and a whole chain, as a crash or a careless admin might.
	out := nft("-a", "list", "table", "ip", TableName)
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, `comment "berth:init"`) && !strings.Contains(line, "127.0.0.0/8") {
			h := line[strings.LastIndex(line, " ")+1:]
			chain := "forward"
			if strings.Contains(line, "return") {
				chain = "isolation"
			}
			nft("delete", "rule", "ip", TableName, chain, "handle", h)
		}
	}
	nft("delete", "chain", "ip", TableName, "raw-prerouting")
	if got := nft("list", "table", "ip", TableName); strings.Contains(got, "berth:init") {
		t.Fatalf("fixed rules not removed:\n%s", got)
	}
	in(Init)
	if got := nft("list", "table", "ip", TableName); !maps.Equal(chainBodies(got), chainBodies(want)) {
		t.Fatalf("Init did not repair the table:\n%s\nwant (in any chain order):\n%s", got, want)
	}
	if f := first("forward"); !strings.HasPrefix(f, "jump isolation") {
		t.Fatalf("first forward rule %q", f)
	}
	if f := first("isolation"); !strings.HasPrefix(f, "ct status dnat return") {
		t.Fatalf("first isolation rule %q", f)
	}
	if out, err := exec.Command("nft", "list", "tables").Output(); err == nil && strings.Contains(string(out), "btinit0") {
		t.Fatal("rules leaked into the host namespace")
	}
}

// chainBodies splits an nft table listing into chain name -> its lines.
func chainBodies(listing string) map[string]string {
	out := map[string]string{}
	name := ""
	for _, line := range strings.Split(listing, "\n") {
		l := strings.TrimSpace(line)
		if n, ok := strings.CutPrefix(l, "chain "); ok {
			name = strings.TrimSuffix(n, " {")
			continue
		}
		if l == "}" {
			name = ""
		}
		if name != "" && l != "" {
			out[name] += l + "\n"
		}
	}
	return out
}
