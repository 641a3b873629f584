package nft

import (
	"fmt"
	"net/netip"
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

// Init creates Berth's table and base chains; it keeps an existing complete table as it is.
func Init() error {
	mu.Lock()
	defer mu.Unlock()
	c, err := nftables.New()
	if err != nil {
		return err
	}
	exists, complete, err := tableState(c)
	if err != nil {
		return err
	}
	if complete {
		return nil
	}
	if exists {
		c.DelTable(table)
	}
	c.AddTable(table)
	for _, ch := range chainDefs() {
		c.AddChain(ch)
	}
	// Outside-sourced packets to 127.0.0.0/8 would be routed once route_localnet is set: drop them.
	c.AddRule(&nftables.Rule{Table: table, Chain: chain(chainRaw), UserData: comment(tagInit),
		Exprs: cat(iif(expr.CmpOpNeq, "lo"), ipPrefix(false, loopback), drop)})
	c.AddRule(&nftables.Rule{Table: table, Chain: chain(chainForward), UserData: comment(tagInit),
		Exprs: cat(jump(chainIsolation))})
	// Published ports are public: DNATed traffic may cross from one Berth bridge to another.
	c.AddRule(&nftables.Rule{Table: table, Chain: chain(chainIsolation), UserData: comment(tagInit),
		Exprs: cat(dnatted(), &expr.Verdict{Kind: expr.VerdictReturn})})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: create table %s: %w", TableName, err)
	}
	return nil
}

func tableState(c *nftables.Conn) (exists, complete bool, err error) {
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return false, false, fmt.Errorf("nftables: list tables: %w", err)
	}
	for _, t := range tables {
		if t.Name == TableName {
			exists = true
		}
	}
	if !exists {
		return false, false, nil
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return true, false, fmt.Errorf("nftables: list chains: %w", err)
	}
	have := map[string]bool{}
	for _, ch := range chains {
		if ch.Table.Name == TableName {
			have[ch.Name] = true
		}
	}
	for _, ch := range chainDefs() {
		if !have[ch.Name] {
			return true, false, nil
		}
	}
	return true, true, nil
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
		add(chainPost, out, ipPrefix(true, loopback), masquerade)
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
		if internal {
			ins(in, out, accept)
		} else {
			ins(out, dnatted(), accept)
			ins(out, established(), accept)
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
