package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
)

var spaces = regexp.MustCompile(`\s{2,}`)

// columns splits a table line into its cells.
func columns(line string) []string { return spaces.Split(strings.TrimSpace(line), -1) }

func TestTop(t *testing.T) {
	f := newAPIFake(t)
	f.json("GET /containers/web/top", 200, map[string]any{
		"Titles":    []string{"UID", "PID", "CMD"},
		"Processes": [][]string{{"root", "4242", "sleep 300"}, {"root", "4243", "sh"}},
	})
	code, out, errOut := f.run("", "top", "web", "-o", "pid,comm")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	want := "UID                 PID                 CMD\nroot                4242                sleep 300\nroot                4243                sh\n"
	if out != want {
		t.Errorf("top output:\n%q\nwant\n%q", out, want)
	}
	if q := f.only("GET /containers/web/top").Query["ps_args"]; len(q) != 1 || q[0] != "-o pid,comm" {
		t.Errorf("ps_args = %q", q)
	}
	f.json("GET /containers/stopped/top", 409, map[string]string{"message": "container stopped is not running"})
	if code, _, errOut := f.run("", "top", "stopped"); code != 1 || errOut != "Error response from daemon: container stopped is not running\n" {
		t.Errorf("stopped: %d %q", code, errOut)
	}
}

func TestPort(t *testing.T) {
	f := newAPIFake(t)
	f.inspect("web", "1234", true, `,"NetworkSettings":{"Ports":{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"},{"HostIp":"::","HostPort":"8080"}],"9/udp":[{"HostIp":"127.0.0.1","HostPort":"9999"}],"443/tcp":null}}`)
	code, out, _ := f.run("", "port", "web")
	want := "9/udp -> 127.0.0.1:9999\n80/tcp -> 0.0.0.0:8080\n80/tcp -> [::]:8080\n"
	if code != 0 || out != want {
		t.Errorf("port: %d %q, want %q", code, out, want)
	}
	code, out, _ = f.run("", "port", "web", "80")
	if code != 0 || out != "0.0.0.0:8080\n[::]:8080\n" {
		t.Errorf("port 80: %d %q", code, out)
	}
	for _, tc := range []struct{ port, want string }{
		{"443/tcp", "Error: No public port '443/tcp' published for web\n"},
		{"81", "Error: No public port '81' published for web\n"},
		{"80/udp", "Error: No public port '80/udp' published for web\n"},
		{"http", "Error: invalid port (http): strconv.ParseUint: parsing \"http\": invalid syntax\n"},
		{"70000/tcp", "Error: invalid port (70000): strconv.ParseUint: parsing \"70000\": value out of range\n"},
	} {
		if code, out, errOut := f.run("", "port", "web", tc.port); code != 1 || out != "" || errOut != tc.want {
			t.Errorf("port %s: %d %q %q, want %q", tc.port, code, out, errOut, tc.want)
		}
	}
	code, out, _ = f.run("", "port", "web", "9/udp")
	if code != 0 || out != "127.0.0.1:9999\n" {
		t.Errorf("port 9/udp: %d %q", code, out)
	}
}

func TestNaturalLess(t *testing.T) {
	in := []string{"80/tcp -> x", "9/udp -> x", "8080/tcp -> x", "10/tcp -> x", "a10", "a9", "a09b"}
	slices.SortFunc(in, func(a, b string) int {
		if naturalLess(a, b) {
			return -1
		}
		if naturalLess(b, a) {
			return 1
		}
		return 0
	})
	want := []string{"9/udp -> x", "10/tcp -> x", "80/tcp -> x", "8080/tcp -> x", "a9", "a09b", "a10"}
	if !slices.Equal(in, want) {
		t.Errorf("got %q want %q", in, want)
	}
}

func TestDiff(t *testing.T) {
	f := newAPIFake(t)
	f.json("GET /containers/web/changes", 200, []map[string]any{{"Path": "/etc", "Kind": 0}, {"Path": "/etc/motd", "Kind": 1}, {"Path": "/bin/vi", "Kind": 2}})
	code, out, _ := f.run("", "diff", "web")
	if code != 0 || out != "C /etc\nA /etc/motd\nD /bin/vi\n" {
		t.Errorf("diff: %d %q", code, out)
	}
}

func TestPauseUnpauseRename(t *testing.T) {
	f := newAPIFake(t)
	f.on("POST /containers/a/pause", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	f.json("POST /containers/b/pause", 409, map[string]string{"message": "container b is already paused"})
	f.on("POST /containers/a/unpause", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	f.on("POST /containers/a/rename", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	f.json("POST /containers/b/rename", 409, map[string]string{"message": `Conflict. The container name "/a" is already in use`})

	code, out, errOut := f.run("", "pause", "a", "b")
	if code != 1 || out != "a\n" || errOut != "Error response from daemon: container b is already paused\n" {
		t.Errorf("pause: %d %q %q", code, out, errOut)
	}
	if code, out, _ := f.run("", "unpause", "a"); code != 0 || out != "a\n" {
		t.Errorf("unpause: %d %q", code, out)
	}
	if code, out, _ := f.run("", "rename", "a", "c"); code != 0 || out != "" || f.only("POST /containers/a/rename").Query["name"][0] != "c" {
		t.Errorf("rename: %d %q", code, out)
	}
	code, _, errOut = f.run("", "container", "rename", "b", "a")
	if code != 1 || errOut != "failed to rename container: Error response from daemon: Conflict. The container name \"/a\" is already in use\n" {
		t.Errorf("rename conflict: %d %q", code, errOut)
	}
}

func TestContainerPrune(t *testing.T) {
	f := newAPIFake(t)
	f.json("POST /containers/prune", 200, map[string]any{"ContainersDeleted": []string{"aaa", "bbb"}, "SpaceReclaimed": 2048})

	code, out, _ := f.run("n\n", "container", "prune")
	if code != 0 || out != "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] " {
		t.Errorf("declined: %d %q", code, out)
	}
	if len(f.requests("POST /containers/prune")) != 0 {
		t.Fatal("a declined prune must not reach the daemon")
	}
	code, out, _ = f.run("y\n", "container", "prune", "--filter", "until=1h", "--filter", "label=a=b")
	want := "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] Deleted Containers:\naaa\nbbb\n\nTotal reclaimed space: 2.048kB\n"
	if code != 0 || out != want {
		t.Errorf("accepted: %d %q\nwant %q", code, out, want)
	}
	var filters map[string]map[string]bool
	json.Unmarshal([]byte(f.only("POST /containers/prune").Query["filters"][0]), &filters)
	if !filters["until"]["1h"] || !filters["label"]["a=b"] {
		t.Errorf("filters %v", filters)
	}
	f.json("POST /containers/prune", 200, map[string]any{})
	if code, out, _ := f.run("", "container", "prune", "-f"); code != 0 || out != "Total reclaimed space: 0B\n" {
		t.Errorf("-f: %d %q", code, out)
	}
	if code, _, errOut := f.run("", "container", "prune", "-f", "--filter", "nope"); code != 125 || errOut != "invalid argument \"nope\" for \"--filter\" flag: bad format of filter (expected name=value)\n\nUsage:  berth container prune [OPTIONS]\n\nRun 'berth container prune --help' for more information\n" {
		t.Errorf("bad filter: %d %q", code, errOut)
	}
}

func TestCommit(t *testing.T) {
	f := newAPIFake(t)
	f.json("POST /commit", 201, map[string]string{"Id": "sha256:abcdef"})
	code, out, errOut := f.run("", "commit", "-m", "msg", "-a", "me", "-c", "ENV A=1", "-c", "CMD [\"sh\"]", "--pause=false", "web", "repo/img:v1")
	if code != 0 || out != "sha256:abcdef\n" {
		t.Fatalf("commit: %d %q %q", code, out, errOut)
	}
	q := f.only("POST /commit").Query
	for k, v := range map[string]string{"container": "web", "repo": "docker.io/repo/img", "tag": "v1", "comment": "msg", "author": "me", "pause": "0"} {
		if len(q[k]) != 1 || q[k][0] != v {
			t.Errorf("query %s = %q, want %q", k, q[k], v)
		}
	}
	if !slices.Equal(q["changes"], []string{"ENV A=1", `CMD ["sh"]`}) {
		t.Errorf("changes %q", q["changes"])
	}
}

func TestExport(t *testing.T) {
	f := newAPIFake(t)
	f.on("GET /containers/web/export", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "TARDATA") })
	f.json("GET /containers/ghost/export", 404, map[string]string{"message": "No such container: ghost"})
	dst := filepath.Join(t.TempDir(), "out.tar")
	if code, _, errOut := f.run("", "export", "-o", dst, "web"); code != 0 {
		t.Fatalf("export: %d %q", code, errOut)
	}
	if b, _ := os.ReadFile(dst); string(b) != "TARDATA" {
		t.Errorf("file holds %q", b)
	}
	if code, out, _ := f.run("", "container", "export", "web"); code != 0 || out != "TARDATA" {
		t.Errorf("stdout: %d %q", code, out)
	}
	missing := filepath.Join(t.TempDir(), "none.tar")
	if code, _, errOut := f.run("", "export", "-o", missing, "ghost"); code != 1 || !strings.Contains(errOut, "No such container: ghost") {
		t.Errorf("ghost: %d %q", code, errOut)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("a failed export must not leave a file")
	}
	if ents, _ := os.ReadDir(filepath.Dir(missing)); len(ents) != 0 {
		t.Errorf("temporary files left: %v", ents)
	}
	p := newPty(t, 24, 80)
	var errOut bytes.Buffer
	code := Main(context.Background(), []string{"-H", f.host, "export", "web"}, Streams{In: p.slave, Out: p.slave, Err: &errOut})
	if code != 1 || errOut.String() != "cowardly refusing to save to a terminal. Use the -o flag or redirect\n" {
		t.Errorf("terminal: %d %q", code, errOut.String())
	}
}

func TestUpdate(t *testing.T) {
	f := newAPIFake(t)
	f.json("POST /containers/web/update", 200, map[string]any{"Warnings": []string{"careful"}})
	code, out, errOut := f.run("", "update", "-m", "128m", "--cpus", "0.5", "--pids-limit", "20", "--restart", "on-failure:3", "web")
	if code != 0 || out != "web\n" || errOut != "careful\n" {
		t.Fatalf("update: %d %q %q", code, out, errOut)
	}
	var req container.UpdateConfig
	json.Unmarshal(f.only("POST /containers/web/update").Body, &req)
	if req.Memory != 128<<20 || req.NanoCPUs != 5e8 || req.PidsLimit == nil || *req.PidsLimit != 20 ||
		req.RestartPolicy.Name != "on-failure" || req.RestartPolicy.MaximumRetryCount != 3 {
		t.Errorf("update body %+v", req)
	}
	if code, _, errOut := f.run("", "update", "web"); code != 1 || errOut != "you must provide one or more flags when using this command\n" {
		t.Errorf("no flags: %d %q", code, errOut)
	}
}

func TestKillSignals(t *testing.T) {
	f := newAPIFake(t)
	f.on("POST /containers/web/kill", func(w http.ResponseWriter, r *http.Request) {
		switch s := r.URL.Query().Get("signal"); s {
		case "HUP", "SIGUSR1", "9", "":
			w.WriteHeader(204)
		default:
			writeJSON(w, 400, map[string]string{"message": "Invalid signal: " + s})
		}
	})
	for _, sig := range []string{"HUP", "SIGUSR1", "9"} {
		if code, out, errOut := f.run("", "kill", "-s", sig, "web"); code != 0 || out != "web\n" {
			t.Errorf("kill -s %s: %d %q %q", sig, code, out, errOut)
		}
	}
	code, out, errOut := f.run("", "kill", "-s", "SIGBOGUS", "web")
	if code != 1 || out != "" || errOut != "Error response from daemon: Invalid signal: SIGBOGUS\n" {
		t.Errorf("bad signal: %d %q %q", code, out, errOut)
	}
	var sent []string
	for _, r := range f.requests("POST /containers/web/kill") {
		sent = append(sent, r.Query["signal"][0])
	}
	if !slices.Equal(sent, []string{"HUP", "SIGUSR1", "9", "SIGBOGUS"}) {
		t.Errorf("signals sent %q", sent)
	}
}

func TestLogsTimesAndTail(t *testing.T) {
	f := newAPIFake(t)
	f.inspect("web", "abc", true, "")
	f.on("GET /containers/abc/logs", func(w http.ResponseWriter, r *http.Request) { w.Write(frame(1, "line\n")) })

	before := time.Now()
	code, out, errOut := f.run("", "logs", "--since", "5m", "--until", "2026-01-02T03:04:05Z", "-t", "--details", "--tail", "-1", "web")
	if code != 0 || out != "line\n" {
		t.Fatalf("logs: %d %q %q", code, out, errOut)
	}
	q := f.only("GET /containers/abc/logs").Query
	var since float64
	fmt.Sscanf(q["since"][0], "%f", &since)
	if d := before.Add(-5*time.Minute).Unix() - int64(since); d < -1 || d > 1 {
		t.Errorf("since %q is not five minutes ago", q["since"])
	}
	if q["until"][0] != "1767323045.000000000" || q["timestamps"][0] != "1" || q["details"][0] != "1" || q["tail"][0] != "-1" {
		t.Errorf("query %v", q)
	}
	code, _, errOut = f.run("", "logs", "--since", "yesterday", "web")
	if code != 1 || !strings.HasPrefix(errOut, `invalid value for "since": `) {
		t.Errorf("bad since: %d %q", code, errOut)
	}
	if n := len(f.requests("GET /containers/abc/logs")); n != 1 {
		t.Errorf("a bad --since must not reach the logs endpoint (%d calls)", n)
	}
}

func TestEvents(t *testing.T) {
	f := newAPIFake(t)
	f.on("GET /events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		for _, e := range []string{
			`{"Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{"name":"x","image":"busybox"}},"time":1795730400,"timeNano":1795730400000000000}`,
			`{"Type":"container","Action":"die","Actor":{"ID":"abc","Attributes":{"exitCode":"0"}},"time":1795730401,"timeNano":1795730401500000000}`,
		} {
			io.WriteString(w, e+"\n")
		}
	})
	t.Setenv("TZ", "UTC")
	code, out, errOut := f.run("", "events", "--since", "1795730000", "--until", "1795730500", "--filter", "container=x", "-f", "event=start")
	want := "2026-11-26T22:00:00.000000000Z container start abc (image=busybox, name=x)\n" +
		"2026-11-26T22:00:01.500000000Z container die abc (exitCode=0)\n"
	if code != 0 || out != want {
		t.Errorf("events: %d %q %q\nwant %q", code, out, errOut, want)
	}
	q := f.only("GET /events").Query
	if q["since"][0] != "1795730000" || q["until"][0] != "1795730500" || !strings.Contains(q["filters"][0], `"event":{"start":true}`) {
		t.Errorf("query %v", q)
	}
	code, out, _ = f.run("", "events", "--format", "{{.Action}} {{.Actor.Attributes.name}}")
	if code != 0 || out != "start x\ndie <no value>\n" {
		t.Errorf("format: %d %q", code, out)
	}
	code, out, _ = f.run("", "system", "events", "--format", "json")
	if code != 0 || !strings.HasPrefix(out, `{"Type":"container","Action":"start","Actor":{"ID":"abc"`) || strings.Count(out, "\n") != 2 {
		t.Errorf("json: %d %q", code, out)
	}
	code, _, errOut = f.run("", "events", "--format", "{{.Nope}}")
	if code != 64 || !strings.HasPrefix(errOut, "Error parsing format: ") {
		t.Errorf("bad format: %d %q", code, errOut)
	}
}

// statsSample is one stats answer: 50% CPU on 2 CPUs, 80 MiB used of 1 GiB, and I/O counts.
func statsSample(id, name string) container.StatsResponse {
	var v container.StatsResponse
	v.ID, v.Name = id, "/"+name
	v.PreCPUStats.CPUUsage.TotalUsage, v.PreCPUStats.SystemUsage = 1e9, 10e9
	v.CPUStats.CPUUsage.TotalUsage, v.CPUStats.SystemUsage, v.CPUStats.OnlineCPUs = 1.5e9, 12e9, 2
	v.MemoryStats.Usage, v.MemoryStats.Limit = 100<<20, 1<<30
	v.MemoryStats.Stats = map[string]uint64{"total_inactive_file": 20 << 20}
	v.Networks = map[string]container.NetworkStats{"eth0": {RxBytes: 1000, TxBytes: 2000}}
	v.BlkioStats.IoServiceBytesRecursive = []container.BlkioStatEntry{{Op: "read", Value: 4096}, {Op: "Write", Value: 8192}}
	v.PidsStats.Current = 3
	return v
}

func TestStatsEntryComputation(t *testing.T) {
	v := statsSample("abc", "x")
	e := NewStatsEntry(&v)
	if e.CPUPercentage != 50 || e.Memory != 80<<20 || e.MemoryLimit != 1<<30 || e.NetworkRx != 1000 ||
		e.NetworkTx != 2000 || e.BlockRead != 4096 || e.BlockWrite != 8192 || e.PidsCurrent != 3 {
		t.Errorf("entry %+v", e)
	}
	// cgroup v2: inactive_file; no online CPU count: per-CPU usage length.
	v.MemoryStats.Stats = map[string]uint64{"inactive_file": 10 << 20}
	v.CPUStats.OnlineCPUs, v.CPUStats.CPUUsage.PercpuUsage = 0, []uint64{1, 2, 3, 4}
	if e := NewStatsEntry(&v); e.Memory != 90<<20 || e.CPUPercentage != 100 {
		t.Errorf("v2 entry %+v", e)
	}
}

func TestStatsNoStream(t *testing.T) {
	f := newAPIFake(t)
	f.on("GET /containers/x/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, statsSample("abcdef0123456789", "x"))
	})
	f.json("GET /containers/ghost/stats", 404, map[string]string{"message": "No such container: ghost"})
	code, out, errOut := f.run("", "stats", "--no-stream", "x")
	if code != 0 {
		t.Fatalf("stats: %d %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("stats output %q", out)
	}
	wantHead := []string{"CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"}
	wantRow := []string{"abcdef012345", "x", "50.00%", "80MiB / 1GiB", "7.81%", "1kB / 2kB", "4.1kB / 8.19kB", "3"}
	if h := columns(lines[0]); !slices.Equal(h, wantHead) {
		t.Errorf("header %q", h)
	}
	if r := columns(lines[1]); !slices.Equal(r, wantRow) {
		t.Errorf("row %q", r)
	}
	q := f.only("GET /containers/x/stats").Query
	if q["stream"][0] != "false" || q["one-shot"] != nil {
		t.Errorf("no-stream must ask for one sample with the previous one: %v", q)
	}
	code, out, _ = f.run("", "stats", "--no-stream", "--format", "{{.Name}}: {{.CPUPerc}} {{.MemPerc}} {{.PIDs}}", "x")
	if code != 0 || out != "x: 50.00% 7.81% 3\n" {
		t.Errorf("format: %d %q", code, out)
	}
	code, out, _ = f.run("", "stats", "--no-stream", "--no-trunc", "--format", "json", "x")
	if code != 0 || !strings.Contains(out, `"ID":"abcdef0123456789"`) || !strings.Contains(out, `"MemUsage":"80MiB / 1GiB"`) {
		t.Errorf("json: %d %q", code, out)
	}
	code, _, errOut = f.run("", "stats", "--no-stream", "x", "ghost")
	if code != 1 || errOut != "Error response from daemon: No such container: ghost\n" {
		t.Errorf("missing: %d %q", code, errOut)
	}
}

func TestStatsAllFollowsEvents(t *testing.T) {
	f := newAPIFake(t)
	f.json("GET /containers/json", 200, []map[string]any{{"Id": "aaa"}})
	f.on("GET /events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		time.Sleep(200 * time.Millisecond)
		io.WriteString(w, `{"Type":"container","Action":"start","Actor":{"ID":"bbb"}}`+"\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	for _, id := range []string{"aaa", "bbb"} {
		f.on("GET /containers/"+id+"/stats", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			enc := json.NewEncoder(w)
			for r.Context().Err() == nil {
				enc.Encode(statsSample(id, "n"+id))
				w.(http.Flusher).Flush()
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
	var out bytes.Buffer
	api, err := (&CLI{host: f.host}).Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1300*time.Millisecond)
	defer cancel()
	if err := ContainerStats(ctx, api, &out, StatsOptions{}); err != nil {
		t.Fatal(err)
	}
	frames := strings.Split(out.String(), "\033[H")
	if len(frames) < 3 || frames[0] != "" {
		t.Fatalf("want several frames starting with cursor home: %q", out.String())
	}
	last := frames[len(frames)-1]
	if !strings.HasSuffix(last, "\033[J") || !strings.Contains(last, "\033[K\n") {
		t.Errorf("frame must erase lines and below: %q", last)
	}
	if !strings.Contains(last, "naaa") || !strings.Contains(last, "nbbb") {
		t.Errorf("last frame lacks the started container: %q", last)
	}
	if strings.Contains(frames[1], "nbbb") {
		t.Errorf("first frame cannot hold the container that started later: %q", frames[1])
	}
	if q := f.only("GET /events").Query["filters"][0]; q != `{"type":{"container":true}}` {
		t.Errorf("events filter %s", q)
	}
}

func TestPsChecksTemplateAndFilterFormat(t *testing.T) {
	f := newAPIFake(t)
	f.json("GET /containers/json", 200, []any{})
	code, _, errOut := f.run("", "ps", "--format", "{{.Nope}}")
	if code != 1 || !strings.HasPrefix(errOut, "failed to execute template: ") {
		t.Errorf("bad field: %d %q", code, errOut)
	}
	code, _, errOut = f.run("", "ps", "--filter", "status")
	if code != 125 || errOut != "invalid argument \"status\" for \"-f, --filter\" flag: bad format of filter (expected name=value)\n\nUsage:  berth ps [OPTIONS]\n\nRun 'berth ps --help' for more information\n" {
		t.Errorf("bad filter: %d %q", code, errOut)
	}
	code, out, _ := f.run("", "ps", "-a", "--filter", "status=exited", "--filter", "name=web", "-f", "label=a=b", "-n", "3")
	if code != 0 || out != "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n" {
		t.Errorf("empty list: %d %q", code, out)
	}
	q := f.requests("GET /containers/json")[0].Query
	var filters map[string]map[string]bool
	json.Unmarshal([]byte(q["filters"][0]), &filters)
	if !filters["status"]["exited"] || !filters["name"]["web"] || !filters["label"]["a=b"] || q["limit"][0] != "3" || q["all"][0] != "1" {
		t.Errorf("query %v", q)
	}
}
