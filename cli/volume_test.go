package cli

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestVolumeCreate(t *testing.T) {
	f := newAPIFake(t)
	f.on("POST /volumes/create", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Name string }
		json.NewDecoder(r.Body).Decode(&req)
		if req.Name == "" {
			req.Name = "4f0c9e2a7b1d"
		}
		writeJSON(w, 201, map[string]any{"Name": req.Name, "Driver": "local", "Mountpoint": "/var/lib/berth/volumes/" + req.Name + "/_data", "Scope": "local"})
	})
	for _, tc := range []struct {
		args       []string
		out, body  string
		bodyPrefix bool
	}{
		{[]string{"volume", "create"}, "4f0c9e2a7b1d\n", `{"Driver":"local"}`, false},
		{[]string{"volume", "create", "data"}, "data\n", `{"Driver":"local","Name":"data"}`, false},
		{[]string{"volume", "create", "--name", "hidden"}, "hidden\n", `{"Driver":"local","Name":"hidden"}`, false},
		{[]string{"volume", "create", "-d", "local", "-o", "type=tmpfs", "-o", "device=tmpfs", "--opt", "o=size=64m,uid=1000",
			"--label", "tier=db", "--label", "flag", "scratch"}, "scratch\n",
			`{"Driver":"local","DriverOpts":{"device":"tmpfs","o":"size=64m,uid=1000","type":"tmpfs"},"Labels":{"flag":"","tier":"db"},"Name":"scratch"}`, false},
		{[]string{"volume", "create", "--driver", "nfs", "x"}, "x\n", `{"Driver":"nfs",`, true},
	} {
		f.reqs = nil
		code, out, errOut := f.run("", tc.args...)
		if code != 0 || out != tc.out || errOut != "" {
			t.Errorf("%v: %d %q %q", tc.args, code, out, errOut)
			continue
		}
		var body map[string]any
		json.Unmarshal(f.only("POST /volumes/create").Body, &body)
		got, _ := json.Marshal(body)
		if tc.bodyPrefix && !strings.HasPrefix(string(got), tc.body) || !tc.bodyPrefix && string(got) != tc.body {
			t.Errorf("%v: body %s, want %s", tc.args, got, tc.body)
		}
	}

	f.reqs = nil
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--name", "a", "b"}, "conflicting options: cannot specify a volume-name through both --name and as a positional arg\n"},
		{[]string{"a", "b"}, "berth: 'berth volume create' requires at most 1 argument\n\nUsage:  berth volume create [OPTIONS] [VOLUME]\n\nRun 'berth volume create --help' for more information\n"},
		{[]string{"--label", "=x", "a"}, "invalid argument \"=x\" for \"--label\" flag: invalid label '=x': empty name\n\nUsage:  berth volume create [OPTIONS] [VOLUME]\n\nRun 'berth volume create --help' for more information\n"},
	} {
		code, out, errOut := f.run("", append([]string{"volume", "create"}, tc.args...)...)
		if code != wantCode(tc.want) || out != "" || errOut != tc.want {
			t.Errorf("%v: %d %q %q, want %q", tc.args, code, out, errOut, tc.want)
		}
	}
	if len(f.reqs) != 0 {
		t.Errorf("invalid input reached the daemon: %+v", f.reqs[0])
	}
	f.json("POST /volumes/create", 400, map[string]string{"message": "create x: volume driver nfs not found"})
	if code, _, errOut := f.run("", "volume", "create", "-d", "nfs", "x"); code != 1 || errOut != "Error response from daemon: create x: volume driver nfs not found\n" {
		t.Errorf("daemon error: %d %q", code, errOut)
	}
}

// volumeList is a daemon answer to GET /volumes, out of name order.
const volumeList = `{"Volumes":[
 {"Name":"b10","Driver":"local","Scope":"local","Mountpoint":"/v/b10/_data","Labels":{"z":"1","a":"2"},"Options":null},
 {"Name":"b9","Driver":"local","Scope":"local","Mountpoint":"/v/b9/_data","Labels":null,"Options":null,"UsageData":{"RefCount":2,"Size":12345}},
 {"Name":"3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e","Driver":"nfs","Scope":"global","Mountpoint":"/v/anon/_data","Labels":{},"Options":null}
],"Warnings":null}`

func TestVolumeList(t *testing.T) {
	f := newAPIFake(t)
	f.on("GET /volumes", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(volumeList))
	})
	const anon = "3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"volume", "ls"}, "" +
			"DRIVER    VOLUME NAME\n" +
			"nfs       " + anon + "\n" +
			"local     b9\n" +
			"local     b10\n"},
		{[]string{"volume", "list", "-q"}, anon + "\nb9\nb10\n"},
		{[]string{"volume", "ls", "-q", "--format", "table"}, anon + "\nb9\nb10\n"},
		{[]string{"volume", "ls", "-q", "--format", "{{.Driver}}"}, "nfs\nlocal\nlocal\n"},
		{[]string{"volume", "ls", "--format", "{{.Name}} {{.Labels}} {{.Links}} {{.Size}} {{.Scope}} {{.Mountpoint}} {{.Label \"a\"}} {{.Group}}"},
			anon + "  N/A N/A global /v/anon/_data  N/A\nb9  2 12.35kB local /v/b9/_data  N/A\nb10 a=2,z=1 N/A N/A local /v/b10/_data 2 N/A\n"},
		{[]string{"volume", "ls", "--format", "table {{.Name}}\t{{.Links}}\t{{.Size}}"}, "" +
			"VOLUME NAME                                                        LINKS     SIZE\n" +
			anon + "   N/A       N/A\n" +
			"b9                                                                 2         12.35kB\n" +
			"b10                                                                N/A       N/A\n"},
		{[]string{"volume", "ls", "--format", "raw"}, "name: " + anon + "\ndriver: nfs\n\nname: b9\ndriver: local\n\nname: b10\ndriver: local\n\n"},
		{[]string{"volume", "ls", "--format", "raw", "-q"}, "name: " + anon + "\nname: b9\nname: b10\n"},
	} {
		code, out, errOut := f.run("", tc.args...)
		if code != 0 || out != tc.want {
			t.Errorf("%v: %d %q %q\nwant %q", tc.args, code, out, errOut, tc.want)
		}
	}

	code, out, _ := f.run("", "volume", "ls", "--format", "json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := `{"Availability":"N/A","Driver":"local","Group":"N/A","Labels":"","Links":"2","Mountpoint":"/v/b9/_data","Name":"b9","Scope":"local","Size":"12.35kB","Status":"N/A"}`
	if code != 0 || len(lines) != 3 || lines[1] != want {
		t.Errorf("json: %d %q", code, out)
	}

	f.reqs = nil
	if code, _, errOut := f.run("", "volume", "ls", "-f", "dangling=true", "--filter", "label=a=2", "--filter", "Name=b"); code != 0 {
		t.Fatalf("filter: %d %q", code, errOut)
	}
	if q := f.only("GET /volumes").Query["filters"]; len(q) != 1 || q[0] != `{"dangling":{"true":true},"label":{"a=2":true},"name":{"b":true}}` {
		t.Errorf("filters query %q", q)
	}
	if code, _, errOut := f.run("", "volume", "ls", "--format", "{{.Nope}}"); code != 1 || !strings.HasPrefix(errOut, "template parsing error: ") {
		t.Errorf("bad template: %d %q", code, errOut)
	}
	if code, _, errOut := f.run("", "volume", "ls", "extra"); code != 1 || !strings.HasPrefix(errOut, "berth: 'berth volume ls' accepts no arguments\n") {
		t.Errorf("extra argument: %d %q", code, errOut)
	}
}

func TestVolumeInspect(t *testing.T) {
	f := newAPIFake(t)
	f.on("GET /volumes/data", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"Name":"data","Driver":"local","Mountpoint":"/v/data/_data","Labels":{"a":"<b>"},"Options":null,"Scope":"local","CreatedAt":"2026-11-26T10:00:00Z","Unknown":"dropped"}`))
	})
	f.on("GET /volumes/tmp", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"Name":"tmp","Driver":"local","Mountpoint":"/v/tmp/_data","Labels":null,"Options":{"type":"tmpfs","device":"tmpfs"},"Scope":"local"}`))
	})
	f.json("GET /volumes/missing", 404, map[string]string{"message": "get missing: no such volume"})

	// Like docker, the typed volume is printed: fields the API types lack are dropped.
	code, out, errOut := f.run("", "volume", "inspect", "data", "tmp")
	want := "[\n    {\n        \"CreatedAt\": \"2026-11-26T10:00:00Z\",\n        \"Driver\": \"local\",\n        \"Labels\": {\n            \"a\": \"\\u003cb\\u003e\"\n        },\n" +
		"        \"Mountpoint\": \"/v/data/_data\",\n        \"Name\": \"data\",\n        \"Options\": null,\n        \"Scope\": \"local\"\n    },\n" +
		"    {\n        \"Driver\": \"local\",\n        \"Labels\": null,\n        \"Mountpoint\": \"/v/tmp/_data\",\n        \"Name\": \"tmp\",\n" +
		"        \"Options\": {\n            \"device\": \"tmpfs\",\n            \"type\": \"tmpfs\"\n        },\n        \"Scope\": \"local\"\n    }\n]\n"
	if code != 0 || out != want || errOut != "" {
		t.Errorf("inspect: %d %q %q\nwant %q", code, out, errOut, want)
	}

	code, out, _ = f.run("", "volume", "inspect", "-f", "{{.Name}} {{.Mountpoint}} {{.Options.type}}", "data", "tmp")
	if code != 0 || out != "data /v/data/_data <no value>\ntmp /v/tmp/_data tmpfs\n" {
		t.Errorf("format: %d %q", code, out)
	}

	code, out, errOut = f.run("", "volume", "inspect", "--format", "json", "missing", "tmp")
	if code != 1 || out != `[{"Driver":"local","Labels":null,"Mountpoint":"/v/tmp/_data","Name":"tmp","Options":{"device":"tmpfs","type":"tmpfs"},"Scope":"local"}]`+"\n" ||
		errOut != "Error response from daemon: get missing: no such volume\n" {
		t.Errorf("missing: %d %q %q", code, out, errOut)
	}

	// A template naming a field the volume lacks fails without falling back to the raw JSON.
	code, out, errOut = f.run("", "volume", "inspect", "-f", "{{.Unknown}}", "data")
	if code != 1 || out != "\n" || errOut != "template parsing error: template: :1:2: executing \"\" at <.Unknown>: can't evaluate field Unknown in type volume.Volume\n" {
		t.Errorf("unknown field: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := f.run("", "volume", "inspect", "-f", "{{.Name", "data"); code != 64 || !strings.HasPrefix(errOut, "template parsing error: ") {
		t.Errorf("bad template: %d %q", code, errOut)
	}
}

func TestVolumeRemove(t *testing.T) {
	f := newAPIFake(t)
	gone := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }
	f.on("DELETE /volumes/a", gone)
	f.on("DELETE /volumes/b", gone)
	f.json("DELETE /volumes/missing", 404, map[string]string{"message": "get missing: no such volume"})
	f.json("DELETE /volumes/busy", 409, map[string]string{"message": "remove busy: volume is in use - [0123456789ab]"})

	code, out, errOut := f.run("", "volume", "rm", "a", "missing", "busy", "b")
	wantErr := "Error response from daemon: get missing: no such volume\nError response from daemon: remove busy: volume is in use - [0123456789ab]\n"
	if code != 1 || out != "a\nb\n" || errOut != wantErr {
		t.Errorf("rm: %d %q %q", code, out, errOut)
	}
	if n := len(f.requests("DELETE /volumes/b")); n != 1 {
		t.Errorf("b removed %d times after a failure, want 1", n)
	}

	f.reqs = nil
	if code, out, _ := f.run("", "volume", "remove", "-f", "a"); code != 0 || out != "a\n" {
		t.Errorf("rm -f: %d %q", code, out)
	}
	if q := f.only("DELETE /volumes/a").Query["force"]; len(q) != 1 || q[0] != "1" {
		t.Errorf("force query %q", q)
	}
	f.reqs = nil
	f.run("", "volume", "rm", "a")
	if q := f.only("DELETE /volumes/a").Query; len(q) != 0 {
		t.Errorf("query without -f: %v", q)
	}
}

func TestVolumePrune(t *testing.T) {
	f := newAPIFake(t)
	f.json("POST /volumes/prune", 200, map[string]any{"VolumesDeleted": []string{"anon1", "data"}, "SpaceReclaimed": 2048})
	const anonPrompt = "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] "
	const allPrompt = "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] "
	const report = "Deleted Volumes:\nanon1\ndata\n\nTotal reclaimed space: 2.048kB\n"

	for _, tc := range []struct {
		stdin   string
		args    []string
		out     string
		filters string // the filters query sent; "-" for no request
	}{
		{"n\n", []string{"volume", "prune"}, anonPrompt, "-"},
		{"", []string{"volume", "prune", "-a"}, allPrompt, "-"},
		{"y\n", []string{"volume", "prune"}, anonPrompt + report, ""},
		{"Y\n", []string{"volume", "prune", "--all"}, allPrompt + report, `{"all":{"true":true}}`},
		{"", []string{"volume", "prune", "-f", "--filter", "label=tmp"}, report, `{"label":{"tmp":true}}`},
		{"", []string{"volume", "prune", "-af", "--filter", "label!=keep"}, report, `{"all":{"true":true},"label!":{"keep":true}}`},
	} {
		f.reqs = nil
		code, out, errOut := f.run(tc.stdin, tc.args...)
		if code != 0 || out != tc.out || errOut != "" {
			t.Errorf("%v: %d %q %q\nwant %q", tc.args, code, out, errOut, tc.out)
		}
		reqs := f.requests("POST /volumes/prune")
		switch {
		case tc.filters == "-" && len(reqs) != 0:
			t.Errorf("%v: pruned without confirmation", tc.args)
		case tc.filters != "-" && (len(reqs) != 1 || strings.Join(reqs[0].Query["filters"], "") != tc.filters):
			t.Errorf("%v: requests %+v, want filters %q", tc.args, reqs, tc.filters)
		}
	}

	f.json("POST /volumes/prune", 200, map[string]any{"VolumesDeleted": nil, "SpaceReclaimed": 0})
	if code, out, _ := f.run("", "volume", "prune", "-f"); code != 0 || out != "Total reclaimed space: 0B\n" {
		t.Errorf("nothing pruned: %d %q", code, out)
	}

	f.reqs = nil
	if code, _, errOut := f.run("", "volume", "prune", "-a", "-f", "--filter", "all=1"); code != 1 ||
		errOut != "conflicting options: cannot specify both --all and --filter all=1\n" {
		t.Errorf("all twice: %d %q", code, errOut)
	}
	if len(f.reqs) != 0 {
		t.Errorf("conflicting options reached the daemon")
	}
}
