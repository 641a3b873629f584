package cli

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/pflag"
)

var psNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func psFixture() []container.Summary {
	return []container.Summary{
		{
			ID:      "4f6c3b1e2a9d8c7b6a5f4e3d2c1b0a99887766554433221100ffeeddccbbaa00",
			Names:   []string{"/web"},
			Image:   "nginx:alpine",
			ImageID: "sha256:1111111111111111111111111111111111111111111111111111111111111111",
			Command: "/docker-entrypoint.sh nginx -g 'daemon off;'",
			Created: psNow.Add(-2 * time.Minute).Unix(),
			Ports:   []container.PortSummary{{IP: netip.MustParseAddr("0.0.0.0"), PrivatePort: 80, PublicPort: 8080, Type: "tcp"}},
			State:   container.StateRunning,
			Status:  "Up 2 minutes",
			Labels:  map[string]string{"com.example.tier": "front", "env": "dev"},
		},
		{
			ID:      "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90",
			Names:   []string{"/quirky_turing"},
			Image:   "busybox",
			ImageID: "sha256:2222222222222222222222222222222222222222222222222222222222222222",
			Command: "true",
			Created: psNow.Add(-3 * time.Hour).Unix(),
			State:   container.StateExited,
			Status:  "Exited (0) 3 hours ago",
		},
	}
}

func TestPsDefaultTable(t *testing.T) {
	var out bytes.Buffer
	if err := writeContainers(&out, psFormat(PsOptions{Last: -1}, false), true, psNow, psFixture()); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"CONTAINER ID   IMAGE          COMMAND                  CREATED         STATUS                   PORTS                  NAMES\n" +
		"4f6c3b1e2a9d   nginx:alpine   \"/docker-entrypoint.…\"   2 minutes ago   Up 2 minutes             0.0.0.0:8080->80/tcp   web\n" +
		"a1b2c3d4e5f6   busybox        \"true\"                   3 hours ago     Exited (0) 3 hours ago                          quirky_turing\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestPsEmptyTable(t *testing.T) {
	var out bytes.Buffer
	if err := writeContainers(&out, psFormat(PsOptions{}, false), true, psNow, nil); err != nil {
		t.Fatal(err)
	}
	want := "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

func TestPsFormats(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  PsOptions
		trunc bool
		want  string
	}{
		{"quiet", PsOptions{Quiet: true}, true, "4f6c3b1e2a9d\na1b2c3d4e5f6\n"},
		{"quiet no-trunc", PsOptions{Quiet: true}, false,
			"4f6c3b1e2a9d8c7b6a5f4e3d2c1b0a99887766554433221100ffeeddccbbaa00\na1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90\n"},
		{"custom", PsOptions{Format: "{{.Names}}: {{.State}}"}, true, "web: running\nquirky_turing: exited\n"},
		{"custom table", PsOptions{Format: `table {{.Names}}\t{{.Label "com.example.tier"}}\t{{.Labels}}`}, true,
			"NAMES           tier      LABELS\n" +
				"web             front     com.example.tier=front,env=dev\n" +
				"quirky_turing             \n"},
		{"command no-trunc", PsOptions{Format: "{{.Command}}"}, false,
			"\"/docker-entrypoint.sh nginx -g 'daemon off;'\"\n\"true\"\n"},
		{"image and created at", PsOptions{Format: "{{.Image}} {{.ID}}"}, true, "nginx:alpine 4f6c3b1e2a9d\nbusybox a1b2c3d4e5f6\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := writeContainers(&out, psFormat(tc.opts, false), tc.trunc, psNow, psFixture()); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Errorf("got:\n%q\nwant:\n%q", out.String(), tc.want)
			}
		})
	}
}

func TestPsSizeColumn(t *testing.T) {
	items := psFixture()[1:]
	items[0].SizeRw = 0
	items[0].SizeRootFs = 4261888
	var out bytes.Buffer
	if err := writeContainers(&out, psFormat(PsOptions{Size: true}, true), true, psNow, items); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if !strings.HasSuffix(lines[0], "NAMES           SIZE") || !strings.HasSuffix(lines[1], "quirky_turing   0B (virtual 4.26MB)") {
		t.Errorf("unexpected size output:\n%s", out.String())
	}
}

func TestPsJSON(t *testing.T) {
	var out bytes.Buffer
	if err := writeContainers(&out, "json", true, psNow, psFixture()[:1]); err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if m["Names"] != "web" || m["ID"] != "4f6c3b1e2a9d" || m["Ports"] != "0.0.0.0:8080->80/tcp" || m["RunningFor"] != "2 minutes ago" {
		t.Errorf("unexpected JSON: %v", m)
	}
}

func TestPsNamesAndImage(t *testing.T) {
	c := &container.Summary{
		Names:   []string{"/other/link", "/main"},
		Image:   "docker.io/library/busybox:latest@sha256:3333333333333333333333333333333333333333333333333333333333333333",
		ImageID: "sha256:4444444444444444444444444444444444444444444444444444444444444444",
	}
	r := &psRow{c: c, trunc: true}
	if got := r.Names(); got != "main" {
		t.Errorf("Names = %q, want main", got)
	}
	if got := r.Image(); got != "busybox:latest" {
		t.Errorf("Image = %q, want busybox:latest", got)
	}
	r.trunc = false
	if got := r.Names(); got != "other/link,main" {
		t.Errorf("Names = %q", got)
	}
	r = &psRow{c: &container.Summary{Image: "sha256:4444444444444444444444444444444444444444444444444444444444444444", ImageID: c.ImageID}, trunc: true}
	if got := r.Image(); got != "444444444444" {
		t.Errorf("Image by ID = %q", got)
	}
	if got := (&psRow{c: &container.Summary{}}).Image(); got != "<no image>" {
		t.Errorf("empty Image = %q", got)
	}
}

func TestPsListOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts PsOptions
		want client.ContainerListOptions
		err  string
	}{
		{"default", PsOptions{Last: -1}, client.ContainerListOptions{Limit: -1, Filters: client.Filters{}}, ""},
		{"all size", PsOptions{All: true, Size: true, Last: -1}, client.ContainerListOptions{All: true, Size: true, Limit: -1, Filters: client.Filters{}}, ""},
		{"latest", PsOptions{Latest: true, Last: -1}, client.ContainerListOptions{Limit: 1, Filters: client.Filters{}}, ""},
		{"last", PsOptions{Latest: true, Last: 3}, client.ContainerListOptions{Limit: 3, Filters: client.Filters{}}, ""},
		{"format uses size", PsOptions{Last: -1, Format: "{{.Size}}"}, client.ContainerListOptions{Limit: -1, Size: true, Filters: client.Filters{}}, ""},
		{"filters", PsOptions{Last: -1, Filters: []string{"status=exited", "label=a=b", "status=created"}},
			client.ContainerListOptions{Limit: -1, Filters: client.Filters{"status": {"exited": true, "created": true}, "label": {"a=b": true}}}, ""},
		{"bad filter", PsOptions{Filters: []string{"exited"}}, client.ContainerListOptions{}, "bad format of filter (expected name=value)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := psListOptions(tc.opts)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(tc.want)
			if string(gj) != string(wj) {
				t.Errorf("got %s, want %s", gj, wj)
			}
		})
	}
}

func TestPsFlags(t *testing.T) {
	fs := pflag.NewFlagSet("ps", pflag.ContinueOnError)
	var got PsOptions
	addPsFlags(fs, &got)
	if err := fs.Parse([]string{"-a", "-q", "-n", "5", "--no-trunc", "-s", "-l", "-f", "status=exited", "--filter", "name=web", "--format", "{{.ID}}"}); err != nil {
		t.Fatal(err)
	}
	want := PsOptions{All: true, Quiet: true, Latest: true, Last: 5, NoTrunc: true, Size: true, Filters: []string{"status=exited", "name=web"}, Format: "{{.ID}}"}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Errorf("got %s, want %s", gj, wj)
	}
}
