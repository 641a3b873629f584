package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

const defaultNetworkFormat = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"

// networkHeader titles the placeholders of network ls --format.
var networkHeader = headerContext{
	"ID":        "NETWORK ID",
	"Name":      "NAME",
	"Driver":    "DRIVER",
	"Scope":     "SCOPE",
	"IPv4":      "IPV4",
	"IPv6":      "IPV6",
	"Internal":  "INTERNAL",
	"Labels":    "LABELS",
	"CreatedAt": "CREATED AT",
}

func newNetworkCommand(c *CLI) *cobra.Command {
	cmd := managementCommand("network", "Manage networks")
	cmd.AddCommand(
		newNetworkConnectCommand(c), newNetworkCreateCommand(c), newNetworkDisconnectCommand(c),
		newNetworkInspectCommand(c), newNetworkListCommand(c), newNetworkRemoveCommand(c),
		newNetworkPruneCommand(c),
	)
	return cmd
}

// CreateNetworkOptions are the inputs of CreateNetwork.
type CreateNetworkOptions struct {
	Name         string
	Driver       string
	Options      map[string]string // driver options (-o)
	Labels       map[string]string
	Internal     bool
	Attachable   bool
	IPv4         *bool // nil leaves the daemon's default
	IPv6         *bool // only false is accepted: Berth networks are IPv4 only
	IPAMDriver   string
	IPAMOptions  map[string]string
	Subnets      []string // CIDR
	IPRanges     []string // CIDR, each inside one of Subnets
	Gateways     []string // each inside one of Subnets
	AuxAddresses map[string]string
}

func newNetworkCreateCommand(c *CLI) *cobra.Command {
	opts := CreateNetworkOptions{Options: map[string]string{}, IPAMOptions: map[string]string{}, AuxAddresses: map[string]string{}}
	var labels []string
	var ipv4, ipv6 bool
	cmd := apiCommand(c, "create [OPTIONS] NETWORK", "Create a network", exactArgs(1),
		func(ctx context.Context, api *client.Client, args []string) error {
			opts.Name = args[0]
			opts.Labels = kvMap(labels)
			return CreateNetwork(ctx, api, c.Out, opts)
		})
	cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
		fs := cmd.Flags()
		if fs.Changed("ipv4") {
			opts.IPv4 = &ipv4
		}
		if fs.Changed("ipv6") {
			opts.IPv6 = &ipv6
		}
		_, err := checkNetworkOptions(opts) // before reaching (or starting) the daemon
		return err
	}
	fs := cmd.Flags()
	fs.StringVarP(&opts.Driver, "driver", "d", "bridge", "Driver to manage the Network")
	fs.VarP(&mapValue{m: opts.Options}, "opt", "o", "Set driver specific options")
	fs.Var(newListValue(&labels, validateLabel), "label", "Set metadata on a network")
	fs.BoolVar(&opts.Internal, "internal", false, "Restrict external access to the network")
	fs.BoolVar(&ipv4, "ipv4", true, "Enable or disable IPv4 address assignment")
	fs.BoolVar(&ipv6, "ipv6", false, "Enable or disable IPv6 address assignment")
	fs.BoolVar(&opts.Attachable, "attachable", false, "Enable manual container attachment")
	fs.StringVar(&opts.IPAMDriver, "ipam-driver", "default", "IP Address Management Driver")
	fs.StringSliceVar(&opts.Subnets, "subnet", nil, "Subnet in CIDR format that represents a network segment")
	fs.StringSliceVar(&opts.IPRanges, "ip-range", nil, "Allocate container ip from a sub-range")
	fs.StringSliceVar(&opts.Gateways, "gateway", nil, "IPv4 or IPv6 Gateway for the master subnet")
	fs.Var(&mapValue{m: opts.AuxAddresses}, "aux-address", "Auxiliary IPv4 or IPv6 addresses used by Network driver")
	fs.Var(&mapValue{m: opts.IPAMOptions}, "ipam-opt", "Set IPAM driver specific options")
	return cmd
}

// CreateNetwork creates a network and prints its ID.
func CreateNetwork(ctx context.Context, api client.NetworkAPIClient, out io.Writer, opts CreateNetworkOptions) error {
	ipam, err := checkNetworkOptions(opts)
	if err != nil {
		return err
	}
	res, err := api.NetworkCreate(ctx, opts.Name, client.NetworkCreateOptions{
		Driver:     opts.Driver,
		Options:    opts.Options,
		Labels:     opts.Labels,
		Internal:   opts.Internal,
		Attachable: opts.Attachable,
		EnableIPv4: opts.IPv4,
		EnableIPv6: opts.IPv6,
		IPAM:       ipam,
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, res.ID)
	return err
}

// checkNetworkOptions refuses IPv6 and returns the IPAM configuration of opts.
func checkNetworkOptions(opts CreateNetworkOptions) (*network.IPAM, error) {
	if opts.IPv6 != nil && *opts.IPv6 {
		return nil, errors.New("IPv6 networks are not supported: Berth networks are IPv4 only")
	}
	return ipamConfig(opts)
}

// ipamConfig groups --subnet, --ip-range, --gateway and --aux-address by subnet, refusing
// what docker refuses.
func ipamConfig(opts CreateNetworkOptions) (*network.IPAM, error) {
	if len(opts.Subnets) < len(opts.IPRanges) || len(opts.Subnets) < len(opts.Gateways) {
		return nil, errors.New("every ip-range or gateway must have a corresponding subnet")
	}
	configs := make([]network.IPAMConfig, 0, len(opts.Subnets))
	for _, s := range opts.Subnets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("invalid subnet: invalid CIDR address: %s", s)
		}
		for _, c := range configs {
			if c.Subnet.Masked().Overlaps(p.Masked()) {
				return nil, errors.New("multiple overlapping subnet configuration is not supported")
			}
		}
		configs = append(configs, network.IPAMConfig{Subnet: p})
	}
	// inSubnets returns the configurations whose subnet holds addr.
	inSubnets := func(addr netip.Addr) []*network.IPAMConfig {
		var in []*network.IPAMConfig
		for i := range configs {
			if addr.IsValid() && configs[i].Subnet.Masked().Contains(addr) {
				in = append(in, &configs[i])
			}
		}
		return in
	}
	for _, r := range opts.IPRanges {
		p, err := netip.ParsePrefix(r)
		if err != nil {
			return nil, fmt.Errorf("invalid CIDR address: %s", r)
		}
		in := inSubnets(p.Addr())
		if len(in) == 0 {
			return nil, fmt.Errorf("no matching subnet for range %s", r)
		}
		for _, c := range in {
			if c.IPRange.IsValid() {
				return nil, fmt.Errorf("cannot configure multiple ranges (%s, %s) on the same subnet (%s)", r, c.IPRange, c.Subnet)
			}
			c.IPRange = p
		}
	}
	for _, g := range opts.Gateways {
		a, _ := netip.ParseAddr(g)
		in := inSubnets(a)
		if len(in) == 0 {
			return nil, fmt.Errorf("no matching subnet for gateway %s", g)
		}
		for _, c := range in {
			if c.Gateway.IsValid() {
				return nil, fmt.Errorf("cannot configure multiple gateways (%s, %s) for the same subnet (%s)", g, c.Gateway, c.Subnet)
			}
			c.Gateway = a
		}
	}
	for name, aux := range opts.AuxAddresses {
		a, _ := netip.ParseAddr(aux)
		in := inSubnets(a)
		if len(in) == 0 {
			return nil, fmt.Errorf("no matching subnet for aux-address %s", aux)
		}
		for _, c := range in {
			if c.AuxAddress == nil {
				c.AuxAddress = map[string]netip.Addr{}
			}
			c.AuxAddress[name] = a
		}
	}
	driver := opts.IPAMDriver
	if driver == "" {
		driver = "default"
	}
	return &network.IPAM{Driver: driver, Config: configs, Options: opts.IPAMOptions}, nil
}

// ListNetworksOptions are the inputs of ListNetworks.
type ListNetworksOptions struct {
	Quiet   bool
	NoTrunc bool
	Filters []string // key=value: driver, id, label, name, scope, type, dangling
	Format  string
}

func newNetworkListCommand(c *CLI) *cobra.Command {
	var opts ListNetworksOptions
	cmd := apiCommand(c, "ls [OPTIONS]", "List networks", noArgs,
		func(ctx context.Context, api *client.Client, args []string) error {
			return ListNetworks(ctx, api, c.Out, opts)
		})
	cmd.Aliases = []string{"list"}
	fs := cmd.Flags()
	fs.BoolVarP(&opts.Quiet, "quiet", "q", false, "Only display network IDs")
	fs.BoolVar(&opts.NoTrunc, "no-trunc", false, "Do not truncate the output")
	fs.StringVar(&opts.Format, "format", "", "Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)")
	addFilterFlag(fs, &opts.Filters, "f", `Provide filter values (e.g. "driver=bridge")`)
	return cmd
}

// ListNetworks prints the networks like `docker network ls`, sorted by name.
func ListNetworks(ctx context.Context, api client.NetworkAPIClient, out io.Writer, opts ListNetworksOptions) error {
	filters, err := parseFilters(opts.Filters)
	if err != nil {
		return err
	}
	res, err := api.NetworkList(ctx, client.NetworkListOptions{Filters: filters})
	if err != nil {
		return err
	}
	format := listFormat(opts.Format, opts.Quiet, listFormats{
		quiet: "{{.ID}}", table: defaultNetworkFormat,
		rawQuiet: `network_id: {{.ID}}\n`, raw: `network_id: {{.ID}}\nname: {{.Name}}\ndriver: {{.Driver}}\nscope: {{.Scope}}\n`,
	})
	items := res.Items
	slices.SortStableFunc(items, func(a, b network.Summary) int { return naturalCompare(a.Name, b.Name) })
	rows := make([]*networkRow, len(items))
	for i := range items {
		rows[i] = &networkRow{n: &items[i], trunc: !opts.NoTrunc}
	}
	return writeRows(out, format, networkHeader, rows)
}

// networkRow is one network as seen by network ls --format templates.
type networkRow struct {
	n     *network.Summary
	trunc bool
}

// ID returns the network ID, short unless --no-trunc.
func (r *networkRow) ID() string {
	if r.trunc {
		return truncateID(r.n.ID)
	}
	return r.n.ID
}

// Name returns the network name.
func (r *networkRow) Name() string { return r.n.Name }

// Driver returns the network driver.
func (r *networkRow) Driver() string { return r.n.Driver }

// Scope returns the network scope (local, global, swarm).
func (r *networkRow) Scope() string { return r.n.Scope }

// IPv4 reports whether IPv4 is enabled.
func (r *networkRow) IPv4() string { return strconv.FormatBool(r.n.EnableIPv4) }

// IPv6 reports whether IPv6 is enabled.
func (r *networkRow) IPv6() string { return strconv.FormatBool(r.n.EnableIPv6) }

// Internal reports whether the network is internal.
func (r *networkRow) Internal() string { return strconv.FormatBool(r.n.Internal) }

// Labels returns all labels as sorted key=value pairs.
func (r *networkRow) Labels() string {
	l := make([]string, 0, len(r.n.Labels))
	for k, v := range r.n.Labels {
		l = append(l, k+"="+v)
	}
	slices.Sort(l)
	return strings.Join(l, ",")
}

// Label returns the value of one label.
func (r *networkRow) Label(name string) string { return r.n.Labels[name] }

// CreatedAt returns the creation time.
func (r *networkRow) CreatedAt() string { return r.n.Created.String() }

// MarshalJSON renders every placeholder, for --format json.
func (r *networkRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"ID": r.ID(), "Name": r.Name(), "Driver": r.Driver(), "Scope": r.Scope(),
		"IPv4": r.IPv4(), "IPv6": r.IPv6(), "Internal": r.Internal(), "Labels": r.Labels(),
		"CreatedAt": r.CreatedAt(),
	})
}

// InspectNetworksOptions are the inputs of InspectNetworks.
type InspectNetworksOptions struct {
	Networks []string
	Format   string // Go template, "json", or empty for indented JSON
	Verbose  bool
}

func newNetworkInspectCommand(c *CLI) *cobra.Command {
	var opts InspectNetworksOptions
	cmd := apiCommand(c, "inspect [OPTIONS] NETWORK [NETWORK...]", "Display detailed information on one or more networks", requiresMinArgs(1),
		func(ctx context.Context, api *client.Client, args []string) error {
			opts.Networks = args
			return InspectNetworks(ctx, api, c.Out, opts)
		})
	fs := cmd.Flags()
	fs.StringVarP(&opts.Format, "format", "f", "", "Format output using a custom template ('json' or a Go template)")
	fs.BoolVarP(&opts.Verbose, "verbose", "v", false, "Verbose output for diagnostics")
	return cmd
}

// InspectNetworks prints the daemon's JSON for each network (an indented array, like docker)
// or renders it through a Go template. Failed names are reported together at the end.
func InspectNetworks(ctx context.Context, api client.NetworkAPIClient, out io.Writer, opts InspectNetworksOptions) error {
	return inspectRefs(out, opts.Networks, opts.Format, func(ref string) (any, []byte, error) {
		res, err := api.NetworkInspect(ctx, ref, client.NetworkInspectOptions{Verbose: opts.Verbose})
		if err != nil {
			return nil, nil, err
		}
		return &res.Network, res.Raw, nil
	})
}

func newNetworkRemoveCommand(c *CLI) *cobra.Command {
	var force bool
	cmd := apiCommand(c, "rm NETWORK [NETWORK...]", "Remove one or more networks", requiresMinArgs(1),
		func(ctx context.Context, api *client.Client, args []string) error {
			return RemoveNetworks(ctx, api, c.Streams, args, force)
		})
	cmd.Aliases = []string{"remove"}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not error if the network does not exist")
	return cmd
}

// RemoveNetworks removes each network, printing its name, or the error on s.Err and going
// on; any failure ends with exit status 1 like docker. With force, missing networks are
// no error.
func RemoveNetworks(ctx context.Context, api client.NetworkAPIClient, s Streams, names []string, force bool) error {
	failed := false
	for _, name := range names {
		if _, err := api.NetworkRemove(ctx, name, client.NetworkRemoveOptions{}); err != nil {
			if isConnError(err) {
				return err
			}
			if force && cerrdefs.IsNotFound(err) {
				continue
			}
			fmt.Fprintln(s.Err, err)
			failed = true
			continue
		}
		fmt.Fprintln(s.Out, name)
	}
	if failed {
		return StatusError{Status: "exit status 1", StatusCode: 1}
	}
	return nil
}

func newNetworkPruneCommand(c *CLI) *cobra.Command {
	var opts PruneOptions
	cmd := apiCommand(c, "prune [OPTIONS]", "Remove all unused networks", noArgs,
		func(ctx context.Context, api *client.Client, args []string) error {
			return PruneNetworks(ctx, api, c.Streams, opts)
		})
	fs := cmd.Flags()
	fs.BoolVarP(&opts.Force, "force", "f", false, "Do not prompt for confirmation")
	addFilterFlag(fs, &opts.Filters, "", `Provide filter values (e.g. "until=<timestamp>")`)
	return cmd
}

const networkPruneWarning = "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?"

// PruneNetworks removes the custom networks no container uses, asking first unless Force
// is set, and prints what was deleted. A "no" ends quietly with no error.
func PruneNetworks(ctx context.Context, api client.NetworkAPIClient, s Streams, opts PruneOptions) error {
	filters, err := parseFilters(opts.Filters)
	if err != nil {
		return err
	}
	if !opts.Force && !confirm(s.In, s.Out, networkPruneWarning) {
		return nil
	}
	res, err := api.NetworkPrune(ctx, client.NetworkPruneOptions{Filters: filters})
	if err != nil {
		return err
	}
	if deleted := res.Report.NetworksDeleted; len(deleted) > 0 {
		_, err = fmt.Fprintf(s.Out, "Deleted Networks:\n%s\n\n", strings.Join(deleted, "\n"))
	}
	return err
}

// ConnectOptions are the inputs of ConnectNetwork.
type ConnectOptions struct {
	Network      string
	Container    string
	IPv4         netip.Addr
	IPv6         netip.Addr
	LinkLocalIPs []string
	Links        []string // CONTAINER[:ALIAS]
	Aliases      []string
	DriverOpts   []string // key=value
	GwPriority   int
}

func newNetworkConnectCommand(c *CLI) *cobra.Command {
	var opts ConnectOptions
	var ipv4, ipv6 ipValue
	cmd := apiCommand(c, "connect [OPTIONS] NETWORK CONTAINER", "Connect a container to a network", exactArgs(2),
		func(ctx context.Context, api *client.Client, args []string) error {
			opts.Network, opts.Container = args[0], args[1]
			opts.IPv4, opts.IPv6 = ipv4.Addr, ipv6.Addr
			return ConnectNetwork(ctx, api, opts)
		})
	fs := cmd.Flags()
	fs.Var(&ipv4, "ip", `IPv4 address (e.g., "172.30.100.104")`)
	fs.Var(&ipv6, "ip6", `IPv6 address (e.g., "2001:db8::33")`)
	fs.Var(newListValue(&opts.Links, validateLink), "link", "Add link to another container")
	fs.StringSliceVar(&opts.Aliases, "alias", nil, "Add network-scoped alias for the container")
	fs.StringSliceVar(&opts.LinkLocalIPs, "link-local-ip", nil, "Add a link-local address for the container")
	fs.StringSliceVar(&opts.DriverOpts, "driver-opt", nil, "driver options for the network")
	fs.IntVar(&opts.GwPriority, "gw-priority", 0, "Highest gw-priority provides the default gateway. Accepts positive and negative values.")
	return cmd
}

// ConnectNetwork connects a container to a network with the endpoint settings of opts.
func ConnectNetwork(ctx context.Context, api client.NetworkAPIClient, opts ConnectOptions) error {
	driverOpts := map[string]string{}
	for _, o := range opts.DriverOpts {
		k, v, ok := strings.Cut(o, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return errors.New("invalid key/value pair format in driver options")
		}
		driverOpts[k] = strings.TrimSpace(v)
	}
	ipam := &network.EndpointIPAMConfig{IPv4Address: opts.IPv4, IPv6Address: opts.IPv6}
	for _, s := range opts.LinkLocalIPs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return fmt.Errorf("invalid link-local IP address %q: %w", s, err)
		}
		ipam.LinkLocalIPs = append(ipam.LinkLocalIPs, a)
	}
	_, err := api.NetworkConnect(ctx, opts.Network, client.NetworkConnectOptions{
		Container: opts.Container,
		EndpointConfig: &network.EndpointSettings{
			IPAMConfig: ipam,
			Links:      opts.Links,
			Aliases:    opts.Aliases,
			DriverOpts: driverOpts,
			GwPriority: opts.GwPriority,
		},
	})
	return err
}

func newNetworkDisconnectCommand(c *CLI) *cobra.Command {
	var force bool
	cmd := apiCommand(c, "disconnect [OPTIONS] NETWORK CONTAINER", "Disconnect a container from a network", exactArgs(2),
		func(ctx context.Context, api *client.Client, args []string) error {
			return DisconnectNetwork(ctx, api, args[0], args[1], force)
		})
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the container to disconnect from a network")
	return cmd
}

// DisconnectNetwork disconnects a container from a network.
func DisconnectNetwork(ctx context.Context, api client.NetworkAPIClient, netName, container string, force bool) error {
	_, err := api.NetworkDisconnect(ctx, netName, client.NetworkDisconnectOptions{Container: container, Force: force})
	return err
}

// validateLink accepts CONTAINER or CONTAINER:ALIAS.
func validateLink(v string) (string, error) {
	if v == "" {
		return "", errors.New("empty string specified for links")
	}
	if strings.Count(v, ":") > 1 {
		return "", errors.New("bad format for links: " + v)
	}
	return v, nil
}
