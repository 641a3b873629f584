package integration

import (
	"os/exec"
	"regexp"
	"slices"
	"strings"

	"github.com/berth-dev/berth/network/bridge"
	"github.com/berth-dev/berth/network/nft"
)

// removeDefaultBridge deletes the daemon's default bridge and its rules after berthd
// stopped (a stopped dockerd leaves docker0 too; tests must not).
func (d *Daemon) removeDefaultBridge() {
	if d.Bridge == "" {
		return
	}
	if err := nft.RemoveNetwork(d.Bridge); err != nil {
		d.t.Errorf("remove rules of %s: %v", d.Bridge, err)
	}
	if err := bridge.DeleteBridge(d.Bridge); err != nil {
		d.t.Errorf("delete bridge %s: %v", d.Bridge, err)
	}
}

var (
	handleRE = regexp.MustCompile(` # handle \d+$`)
	// Unit tests of network/... run in parallel with this package and name their bridges
	// and fake containers bt<hex>; what they leave is their own tests' business.
	unitTestRE = regexp.MustCompile(`\bbt[c0-9]?[0-9a-f]{6,}\b`)
)

// netState lists the host's links (name, kind, master, alias) and nftables rules.
func netState() []string {
	var out []string
	links, _ := exec.Command("ip", "-o", "-d", "link", "show").Output()
	for _, l := range strings.Split(string(links), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		entry := "link " + name
		if i := strings.Index(l, " alias "); i >= 0 {
			entry += " alias " + strings.Fields(l[i+7:])[0]
		}
		out = append(out, entry)
	}
	rules, _ := exec.Command("nft", "-a", "list", "ruleset").Output()
	for _, l := range strings.Split(string(rules), "\n") {
		l = strings.TrimSpace(handleRE.ReplaceAllString(l, ""))
		if l != "" && l != "}" {
			out = append(out, "nft "+l)
		}
	}
	return out
}

// netLeaks returns what after has that before had not, leaving out the unit tests' state.
func netLeaks(before, after []string) []string {
	var leaks []string
	for _, s := range after {
		if slices.Contains(before, s) || unitTestRE.MatchString(s) {
			continue
		}
		// Host-side veths of unit tests carry their fake container IDs; ours carry 64-hex IDs.
		if strings.HasPrefix(s, "link veth") && !regexp.MustCompile(`alias berth:[0-9a-f]{64}`).MatchString(s) {
			continue
		}
		leaks = append(leaks, s)
	}
	return leaks
}
