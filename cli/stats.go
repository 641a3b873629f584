package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

const defaultStatsFormat = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"

// statsHeader titles the placeholders of stats --format.
var statsHeader = headerContext{
	"Container": "CONTAINER",
	"Name":      "NAME",
	"ID":        "CONTAINER ID",
	"CPUPerc":   "CPU %",
	"MemUsage":  "MEM USAGE / LIMIT",
	"MemPerc":   "MEM %",
	"NetIO":     "NET I/O",
	"BlockIO":   "BLOCK I/O",
	"PIDs":      "PIDS",
}

// How often the live table is redrawn, and how long a container may go without a sample
// before its row shows "--".
const (
	statsRefresh = 500 * time.Millisecond
	statsTimeout = 2 * time.Second
)

// StatsOptions are the inputs of ContainerStats.
type StatsOptions struct {
	Containers []string // empty for all running containers (all containers with All)
	All        bool
	NoStream   bool // print one sample and return
	NoTrunc    bool
	Format     string
}

// StatsAPI is what watching resource usage needs from the daemon.
type StatsAPI interface {
	ContainerList(ctx context.Context, options client.ContainerListOptions) (client.ContainerListResult, error)
	ContainerStats(ctx context.Context, container string, options client.ContainerStatsOptions) (client.ContainerStatsResult, error)
	Events(ctx context.Context, options client.EventsListOptions) client.EventsResult
}

func newStatsCommand(c *CLI) *cobra.Command {
	var opts StatsOptions
	cmd := apiCommand(c, "stats [OPTIONS] [CONTAINER...]", "Display a live stream of container(s) resource usage statistics", cobra.ArbitraryArgs,
		func(ctx context.Context, api *client.Client, args []string) error {
			opts.Containers = args
			return ContainerStats(ctx, api, c.Out, opts)
		})
	fs := cmd.Flags()
	fs.BoolVarP(&opts.All, "all", "a", false, "Show all containers (default shows just running)")
	fs.StringVar(&opts.Format, "format", "", "Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)")
	fs.BoolVar(&opts.NoStream, "no-stream", false, "Disable streaming stats and only pull the first result")
	fs.BoolVar(&opts.NoTrunc, "no-trunc", false, "Do not truncate output")
	return cmd
}

// StatsEntry is one container's computed usage, as docker's stats shows it.
type StatsEntry struct {
	Container        string // as named by the user, or the ID
	Name             string
	ID               string
	CPUPercentage    float64
	Memory           float64 // bytes in use, page cache excluded
	MemoryLimit      float64
	MemoryPercentage float64
	NetworkRx        float64
	NetworkTx        float64
	BlockRead        float64
	BlockWrite       float64
	PidsCurrent      uint64
	IsInvalid        bool // no valid sample (stopped, timed out, or failed)
}

// NewStatsEntry computes a container's usage from one StatsResponse the way the docker CLI
// does: CPU % from the deltas against PreCPUStats scaled by the online CPUs, memory without
// the inactive page cache.
func NewStatsEntry(v *container.StatsResponse) StatsEntry {
	mem := memUsageNoCache(v.MemoryStats)
	e := StatsEntry{
		Name:          v.Name,
		ID:            v.ID,
		CPUPercentage: cpuPercent(v.PreCPUStats, v.CPUStats),
		Memory:        mem,
		MemoryLimit:   float64(v.MemoryStats.Limit),
		PidsCurrent:   v.PidsStats.Current,
	}
	if v.MemoryStats.Limit != 0 {
		e.MemoryPercentage = mem / float64(v.MemoryStats.Limit) * 100
	}
	for _, n := range v.Networks {
		e.NetworkRx += float64(n.RxBytes)
		e.NetworkTx += float64(n.TxBytes)
	}
	for _, b := range v.BlkioStats.IoServiceBytesRecursive {
		if b.Op == "" {
			continue
		}
		switch b.Op[0] {
		case 'r', 'R':
			e.BlockRead += float64(b.Value)
		case 'w', 'W':
			e.BlockWrite += float64(b.Value)
		}
	}
	return e
}

func cpuPercent(prev, cur container.CPUStats) float64 {
	cpuDelta := float64(cur.CPUUsage.TotalUsage) - float64(prev.CPUUsage.TotalUsage)
	sysDelta := float64(cur.SystemUsage) - float64(prev.SystemUsage)
	online := float64(cur.OnlineCPUs)
	if online == 0 {
		online = float64(len(cur.CPUUsage.PercpuUsage))
	}
	if sysDelta > 0 && cpuDelta > 0 {
		return cpuDelta / sysDelta * online * 100
	}
	return 0
}

// memUsageNoCache is the usage minus inactive file pages (total_inactive_file on cgroup v1,
// inactive_file on v2), like cadvisor and the docker CLI.
func memUsageNoCache(m container.MemoryStats) float64 {
	if v, v1 := m.Stats["total_inactive_file"]; v1 && v < m.Usage {
		return float64(m.Usage - v)
	}
	if v := m.Stats["inactive_file"]; v < m.Usage {
		return float64(m.Usage - v)
	}
	return float64(m.Usage)
}

// statsRow is one container as seen by stats --format templates.
type statsRow struct {
	s     StatsEntry
	trunc bool
}

// Container returns the container as named by the user (or its ID).
func (r *statsRow) Container() string { return r.s.Container }

// Name returns the container name, or "--" before the first sample.
func (r *statsRow) Name() string {
	if n := strings.TrimPrefix(r.s.Name, "/"); n != "" {
		return n
	}
	return "--"
}

// ID returns the container ID, short unless --no-trunc.
func (r *statsRow) ID() string {
	if r.trunc {
		return truncateID(r.s.ID)
	}
	return r.s.ID
}

// CPUPerc returns the CPU use in percent of one CPU.
func (r *statsRow) CPUPerc() string {
	if r.s.IsInvalid {
		return "--"
	}
	return percent(r.s.CPUPercentage)
}

// MemUsage returns "usage / limit" in binary units.
func (r *statsRow) MemUsage() string {
	if r.s.IsInvalid {
		return "-- / --"
	}
	return units.BytesSize(r.s.Memory) + " / " + units.BytesSize(r.s.MemoryLimit)
}

// MemPerc returns the memory use in percent of the limit.
func (r *statsRow) MemPerc() string {
	if r.s.IsInvalid {
		return "--"
	}
	return percent(r.s.MemoryPercentage)
}

// NetIO returns "received / sent" bytes over all networks.
func (r *statsRow) NetIO() string {
	if r.s.IsInvalid {
		return "--"
	}
	return units.HumanSizeWithPrecision(r.s.NetworkRx, 3) + " / " + units.HumanSizeWithPrecision(r.s.NetworkTx, 3)
}

// BlockIO returns "read / written" bytes of block devices.
func (r *statsRow) BlockIO() string {
	if r.s.IsInvalid {
		return "--"
	}
	return units.HumanSizeWithPrecision(r.s.BlockRead, 3) + " / " + units.HumanSizeWithPrecision(r.s.BlockWrite, 3)
}

// PIDs returns the number of processes.
func (r *statsRow) PIDs() string {
	if r.s.IsInvalid {
		return "--"
	}
	return strconv.FormatUint(r.s.PidsCurrent, 10)
}

// MarshalJSON renders every placeholder, for --format json.
func (r *statsRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"Container": r.Container(), "Name": r.Name(), "ID": r.ID(), "CPUPerc": r.CPUPerc(),
		"MemUsage": r.MemUsage(), "MemPerc": r.MemPerc(), "NetIO": r.NetIO(),
		"BlockIO": r.BlockIO(), "PIDs": r.PIDs(),
	})
}

func percent(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) + "%" }

// writeStats renders entries with format ("" or "table" for docker's default table).
func writeStats(w io.Writer, format string, trunc bool, entries []StatsEntry) error {
	if format == "" || format == tableFormat {
		format = defaultStatsFormat
	}
	rows := make([]*statsRow, len(entries))
	for i := range entries {
		rows[i] = &statsRow{s: entries[i], trunc: trunc}
	}
	return writeRows(w, format, statsHeader, rows)
}

// statsCollector holds the latest sample of each watched container, in the order added.
type statsCollector struct {
	mu    sync.Mutex
	order []string
	cur   map[string]*statsState
}

type statsState struct {
	entry StatsEntry
	err   error
	stop  context.CancelFunc
	first chan struct{} // closed at the first sample, error or timeout
	once  sync.Once
}

func (st *statsState) firstDone() { st.once.Do(func() { close(st.first) }) }

func (c *statsCollector) set(key string, f func(st *statsState)) {
	c.mu.Lock()
	if st := c.cur[key]; st != nil {
		f(st)
	}
	c.mu.Unlock()
}

// add starts collecting key's stats unless it is already watched.
func (c *statsCollector) add(ctx context.Context, api StatsAPI, key string, stream bool) *statsState {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.cur[key]; ok {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	st := &statsState{entry: StatsEntry{Container: key}, stop: cancel, first: make(chan struct{})}
	c.cur[key] = st
	c.order = append(c.order, key)
	go c.collect(ctx, api, key, st, stream)
	return st
}

func (c *statsCollector) remove(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.cur[key]
	if st == nil {
		return
	}
	st.stop()
	delete(c.cur, key)
	for i, k := range c.order {
		if k == key {
			c.order = append(c.order[:i], c.order[i+1:]...)
			break
		}
	}
}

// snapshot returns the current entries in order.
func (c *statsCollector) snapshot() ([]StatsEntry, []error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	entries := make([]StatsEntry, 0, len(c.order))
	var errs []error
	for _, k := range c.order {
		st := c.cur[k]
		entries = append(entries, st.entry)
		if st.err != nil {
			errs = append(errs, st.err)
		}
	}
	return entries, errs
}

// collect reads key's stats until the stream ends or ctx is done; a sample missing for
// statsTimeout blanks the row.
func (c *statsCollector) collect(ctx context.Context, api StatsAPI, key string, st *statsState, stream bool) {
	defer st.firstDone()
	res, err := api.ContainerStats(ctx, key, client.ContainerStatsOptions{Stream: stream, IncludePreviousSample: !stream})
	if err != nil {
		c.set(key, func(st *statsState) { st.err, st.entry.IsInvalid = err, true })
		return
	}
	defer res.Body.Close()
	samples := make(chan StatsEntry)
	go func() {
		defer close(samples)
		dec := json.NewDecoder(res.Body)
		for {
			var v container.StatsResponse
			if err := dec.Decode(&v); err != nil {
				return
			}
			select {
			case samples <- NewStatsEntry(&v):
			case <-ctx.Done():
				return
			}
			if !stream {
				return
			}
		}
	}()
	timer := time.NewTimer(statsTimeout)
	defer timer.Stop()
	for {
		select {
		case e, ok := <-samples:
			if !ok {
				c.set(key, func(st *statsState) { st.entry.IsInvalid = true })
				return
			}
			e.Container = key
			c.set(key, func(st *statsState) { st.entry, st.err = e, nil })
			st.firstDone()
			if !stream {
				return
			}
			timer.Reset(statsTimeout)
		case <-timer.C:
			c.set(key, func(st *statsState) {
				st.entry = StatsEntry{Container: key, Name: st.entry.Name, ID: st.entry.ID, IsInvalid: true}
			})
			st.firstDone()
			timer.Reset(statsTimeout)
		case <-ctx.Done():
			return
		}
	}
}

// ContainerStats prints containers' resource usage like `docker stats`: one table with
// NoStream, else a table redrawn in place every half second until ctx is done. Without
// named containers it follows containers starting and stopping through the events stream.
func ContainerStats(ctx context.Context, api StatsAPI, out io.Writer, opts StatsOptions) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	col := &statsCollector{cur: map[string]*statsState{}}
	stream := !opts.NoStream
	var firsts []*statsState
	eventErr := make(chan error, 1)

	if len(opts.Containers) == 0 {
		// Subscribe before listing, so that no container starting in between is missed.
		res := api.Events(ctx, client.EventsListOptions{Filters: client.Filters{}.Add("type", string(events.ContainerEventType))})
		go func() {
			for {
				select {
				case m := <-res.Messages:
					switch {
					case m.Action == events.ActionStart || (opts.All && m.Action == events.ActionCreate):
						col.add(ctx, api, m.Actor.ID, stream)
					case m.Action == events.ActionDestroy || (!opts.All && m.Action == events.ActionDie):
						col.remove(m.Actor.ID)
					}
				case err := <-res.Err:
					eventErr <- err
					return
				}
			}
		}()
		list, err := api.ContainerList(ctx, client.ContainerListOptions{All: opts.All})
		if err != nil {
			return err
		}
		for _, ctr := range list.Items {
			if st := col.add(ctx, api, ctr.ID, stream); st != nil {
				firsts = append(firsts, st)
			}
		}
	} else {
		for _, name := range opts.Containers {
			if st := col.add(ctx, api, name, stream); st != nil {
				firsts = append(firsts, st)
			}
		}
	}
	for _, st := range firsts {
		select {
		case <-st.first:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	entries, errs := col.snapshot()
	if len(opts.Containers) > 0 && len(errs) > 0 {
		return errors.Join(errs...)
	}
	if opts.NoStream {
		if len(entries) == 0 {
			return nil
		}
		return writeStats(out, opts.Format, !opts.NoTrunc, entries)
	}

	var frame, table bytes.Buffer
	tick := time.NewTicker(statsRefresh)
	defer tick.Stop()
	for {
		entries, _ := col.snapshot()
		if len(entries) == 0 && len(opts.Containers) > 0 {
			_, err := io.WriteString(out, "\033[H\033[J")
			return err
		}
		table.Reset()
		if err := writeStats(&table, opts.Format, !opts.NoTrunc, entries); err != nil {
			return err
		}
		// Redraw in place: home, each line followed by erase-to-end-of-line, then erase below.
		frame.Reset()
		frame.WriteString("\033[H")
		for _, line := range bytes.Split(bytes.TrimSuffix(table.Bytes(), []byte("\n")), []byte("\n")) {
			frame.Write(line)
			frame.WriteString("\033[K\n")
		}
		frame.WriteString("\033[J")
		if _, err := out.Write(frame.Bytes()); err != nil {
			return err
		}
		select {
		case <-tick.C:
		case err := <-eventErr:
			if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		case <-ctx.Done():
			return nil
		}
	}
}
