package nft

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/berth-dev/berth/errdefs"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// TableName is the nftables table (family ip) that holds all of Berth's chains.
const TableName = "berth"

// Chain names inside TableName.
const (
	chainRaw        = "raw-prerouting"
	chainForward    = "forward"
	chainIsolation  = "isolation"
	chainIsolation2 = "isolation2"
	chainPre        = "prerouting"
	chainOut        = "output"
	chainPost       = "postrouting"
)

// Tag prefixes carried in rule comments.
const (
	tagInit = "berth:init"
	tagNet  = "berth:net:"
	tagPort = "berth:port:"
)

var (
	mu       sync.Mutex
	table    = &nftables.Table{Name: TableName, Family: nftables.TableFamilyIPv4}
	fwTable  = &nftables.Table{Name: "filter", Family: nftables.TableFamilyIPv4}
	loopback = netip.MustParsePrefix("127.0.0.0/8")
	// LoopbackSource is the address containers see as the client of connections the
	// host makes to a published port on 127.0.0.1. Not the bridge's gateway: the host's
	// direct connections to containers come from the gateway, and sharing its address
	// (with other TCP timestamps) makes a container's TIME_WAIT sockets drop the new SYNs
	// when both kinds of connections come fast. Being off the subnet, replies to it take
	// the container's default route to the host, where conntrack turns them back.
	LoopbackSource = netip.MustParsePrefix("169.254.77.1/32").Addr()
)

func chain(name string) *nftables.Chain { return &nftables.Chain{Name: name, Table: table} }

func chainDefs() []*nftables.Chain {
	accept := nftables.ChainPolicyAccept
	base := func(name string, typ nftables.ChainType, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
		return &nftables.Chain{Name: name, Table: table, Type: typ, Hooknum: hook, Priority: prio, Policy: &accept}
	}
	return []*nftables.Chain{
		base(chainRaw, nftables.ChainTypeFilter, nftables.ChainHookPrerouting, nftables.ChainPriorityRaw),
		base(chainForward, nftables.ChainTypeFilter, nftables.ChainHookForward, nftables.ChainPriorityFilter),
		{Name: chainIsolation, Table: table},
		{Name: chainIsolation2, Table: table},
		base(chainPre, nftables.ChainTypeNAT, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest),
		base(chainOut, nftables.ChainTypeNAT, nftables.ChainHookOutput, nftables.ChainPriorityNATDest),
		base(chainPost, nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource),
	}
}

// Init creates Berth's table, base chains and fixed rules, adding only what is missing:
// the rules of networks and ports in an existing table stay as they are.
func Init() error {
	mu.Lock()
	defer mu.Unlock()
	c, err := nftables.New()
	if err != nil {
		return err
	}
	exists, have, err := tableState(c)
	if err != nil {
		return err
	}
	if !exists {
		c.AddTable(table)
	}
	for _, ch := range chainDefs() {
		if !have[ch.Name] {
			c.AddChain(ch)
		}
	}
	for _, r := range initRules() {
		if have[r.Chain.Name] {
			rules, err := c.GetRules(table, r.Chain)
			if err != nil {
				return fmt.Errorf("nftables: list rules of %s: %w", r.Chain.Name, err)
			}
			if slices.ContainsFunc(rules, func(x *nftables.Rule) bool { return ruleTag(x) == tagInit }) {
				continue
			}
		}
		c.InsertRule(r) // first in its chain: isolation must come before the networks' accepts
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: create table %s: %w", TableName, err)
	}
	return nil
}

func initRules() []*nftables.Rule {
	r := func(ch string, e ...any) *nftables.Rule {
		return &nftables.Rule{Table: table, Chain: chain(ch), UserData: comment(tagInit), Exprs: cat(e...)}
	}
	return []*nftables.Rule{
		// Outside-sourced packets to 127.0.0.0/8 would be routed once route_localnet is set: drop them.
		r(chainRaw, iif(expr.CmpOpNeq, "lo"), ipPrefix(false, loopback), drop),
		r(chainForward, jump(chainIsolation)),
		// Published ports are public: DNATed traffic may cross from one Berth bridge to another.
		r(chainIsolation, dnatted(), &expr.Verdict{Kind: expr.VerdictReturn}),
	}
}

// tableState reports whether Berth's table exists and which of its chains do.
func tableState(c *nftables.Conn) (exists bool, chains map[string]bool, err error) {
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return false, nil, fmt.Errorf("nftables: list tables: %w", err)
	}
	chains = map[string]bool{}
	if !slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == TableName }) {
		return false, chains, nil
	}
	all, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return true, nil, fmt.Errorf("nftables: list chains: %w", err)
	}
	for _, ch := range all {
		if ch.Table.Name == TableName {
			chains[ch.Name] = true
		}
	}
	return true, chains, nil
}

// Teardown removes Berth's table and Berth's rules in the ip filter FORWARD chain.
func Teardown() error {
	mu.Lock()
	defer mu.Unlock()
	c, err := nftables.New()
	if err != nil {
		return err
	}
	exists, _, err := tableState(c)
	if err != nil {
		return err
	}
	if exists {
		c.DelTable(table)
	}
	if err := delFilterForward(c, func(tag string) bool { return strings.HasPrefix(tag, "berth:") }); err != nil {
		return err
	}
	return c.Flush()
}

// dockerForward returns the ip filter FORWARD base chain (iptables-nft, dockerd) or nil.
func dockerForward(c *nftables.Conn) (*nftables.Chain, error) {
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, fmt.Errorf("nftables: list chains: %w", err)
	}
	for _, ch := range chains {
		if ch.Table.Name == fwTable.Name && ch.Name == "FORWARD" && ch.Hooknum != nil {
			return &nftables.Chain{Name: ch.Name, Table: fwTable}, nil
		}
	}
	return nil, nil
}

func delFilterForward(c *nftables.Conn, match func(string) bool) error {
	ch, err := dockerForward(c)
	if err != nil || ch == nil {
		return err
	}
	return delRules(c, ch, match)
}

func delRules(c *nftables.Conn, ch *nftables.Chain, match func(string) bool) error {
	rules, err := c.GetRules(ch.Table, ch)
	if err != nil {
		return fmt.Errorf("nftables: list rules of %s %s: %w", ch.Table.Name, ch.Name, err)
	}
	for _, r := range rules {
		if match(ruleTag(r)) {
			if err := c.DelRule(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// delTagged queues deletion of every rule whose tag matches, in Berth's chains and ip filter FORWARD.
func delTagged(c *nftables.Conn, match func(string) bool) error {
	for _, name := range []string{chainRaw, chainForward, chainIsolation, chainIsolation2, chainPre, chainOut, chainPost} {
		if err := delRules(c, chain(name), match); err != nil {
			return err
		}
	}
	return delFilterForward(c, match)
}

func validBridge(bridge string) error {
	if bridge == "" || len(bridge) > 15 || strings.ContainsAny(bridge, "/ \x00,") {
		return errdefs.InvalidParameter(fmt.Sprintf("invalid bridge name %q", bridge))
	}
	return nil
}

// AddNetwork installs masquerade, forwarding and isolation rules for a bridge; calling it again replaces them.
func AddNetwork(bridge string, subnet netip.Prefix, internal bool) error {
	if err := validBridge(bridge); err != nil {
		return err
	}
	if !subnet.IsValid() || !subnet.Addr().Is4() {
		return errdefs.InvalidParameter(fmt.Sprintf("invalid IPv4 subnet %v", subnet))
	}
	mu.Lock()
	defer mu.Unlock()
	c, err := nftables.New()
	if err != nil {
		return err
	}
	tag := tagNet + bridge
	if err := delTagged(c, func(s string) bool { return s == tag }); err != nil {
		return err
	}
	ud := comment(tag)
	add := func(ch string, e ...any) {
		c.AddRule(&nftables.Rule{Table: table, Chain: chain(ch), UserData: ud, Exprs: cat(e...)})
	}
	in, out := iif(expr.CmpOpEq, bridge), oif(expr.CmpOpEq, bridge)
	// Isolation: traffic between two different Berth bridges is dropped in both directions.
	add(chainIsolation, in, oif(expr.CmpOpNeq, bridge), jump(chainIsolation2))
	add(chainIsolation2, out, drop)
	if internal {
		add(chainIsolation, in, oif(expr.CmpOpNeq, bridge), drop)
		add(chainIsolation, out, iif(expr.CmpOpNeq, bridge), drop)
		add(chainForward, in, out, accept)
	} else {
		add(chainForward, out, established(), accept)
		add(chainForward, out, dnatted(), accept)
		add(chainForward, in, accept)
		add(chainForward, out, drop)
		add(chainPost, ipPrefix(true, subnet), oif(expr.CmpOpNeq, bridge), masquerade)
		// Host-originated connections to 127.0.0.1 DNATed onto the bridge, and hairpin connections
		// (meta iif is unset in postrouting, so hairpin is matched by source subnet).
		add(chainPost, out, ipPrefix(true, loopback), snatTo(LoopbackSource))
		add(chainPost, ipPrefix(true, subnet), out, dnatted(), masquerade)
	}

	fw, err := dockerForward(c)
	if err != nil {
		return err
	}
	if fw != nil {
		ins := func(e ...any) {
			c.InsertRule(&nftables.Rule{Table: fwTable, Chain: fw, UserData: ud, Exprs: cat(e...)})
		}
		// Only interface matches and accept, which iptables-nft reads back (-i/-o -j ACCEPT):
		// a rule it cannot parse makes the whole filter table "incompatible" for dockerd's
		// iptables calls. The real filtering is in Berth's own forward chain, which every
		// packet also traverses.
		if internal {
			ins(in, out, accept)
		} else {
			ins(out, accept)
			ins(in, accept)
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: add network %s: %w", bridge, err)
	}
	return nil
}

// RemoveNetwork deletes every rule tagged with the bridge; removing an unknown bridge is not an error.
func RemoveNetwork(bridge string) error {
	if err := validBridge(bridge); err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	c, err := nftables.New()
	if err != nil {
		return err
	}
	tag := tagNet + bridge
	if err := delTagged(c, func(s string) bool { return s == tag }); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: remove network %s: %w", bridge, err)
	}
	return nil
}

// Networks lists the bridges that have rules in the kernel ruleset.
func Networks() ([]string, error) {
	mu.Lock()
	defer mu.Unlock()
	c, err := nftables.New()
	if err != nil {
		return nil, err
	}
	rules, err := c.GetRules(table, chain(chainIsolation2))
	if err != nil {
		return nil, fmt.Errorf("nftables: list rules: %w", err)
	}
	var out []string
	for _, r := range rules {
		if b, ok := strings.CutPrefix(ruleTag(r), tagNet); ok {
			out = append(out, b)
		}
	}
	return out, nil
}

// ForwardMissing returns those of bridges whose accept rules are missing from the ip filter
// FORWARD chain although the chain exists: another engine created it after the networks
// were set up. Without a FORWARD chain nothing is missing.
func ForwardMissing(bridges []string) ([]string, error) {
	mu.Lock()
	defer mu.Unlock()
	c, err := nftables.New()
	if err != nil {
		return nil, err
	}
	fw, err := dockerForward(c)
	if err != nil || fw == nil {
		return nil, err
	}
	rules, err := c.GetRules(fw.Table, fw)
	if err != nil {
		return nil, fmt.Errorf("nftables: list rules of %s %s: %w", fw.Table.Name, fw.Name, err)
	}
	have := map[string]bool{}
	for _, r := range rules {
		have[ruleTag(r)] = true
	}
	var missing []string
	for _, b := range bridges {
		if !have[tagNet+b] {
			missing = append(missing, b)
		}
	}
	return missing, nil
}
