package cli

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
)

func TestWriteHistory(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	items := []image.HistoryResponseItem{
		{ID: "sha256:5b7529c6da8d0123456789abcdef0123456789abcdef0123456789abcdef0123", Created: now.Add(-49 * time.Hour).Unix(), CreatedBy: `/bin/sh -c #(nop)  CMD ["sh"]`, Tags: []string{"busybox:latest"}},
		{ID: "<missing>", Created: now.Add(-49 * time.Hour).Unix(), CreatedBy: "/bin/sh -c #(nop) ADD file:7e9002edaafd4e4579b65c8f0aaabde1aeb7fd3f8d95579f7fd4443cef785fd in / ", Size: 4261550, Comment: "imported"},
		{ID: "<missing>", Created: 0, CreatedBy: "tab\there", Size: 999},
	}
	cases := []struct {
		name   string
		opts   HistoryOptions
		trunc  bool
		human  bool
		output string
	}{
		{"default", HistoryOptions{Human: true}, true, true,
			"IMAGE          CREATED      CREATED BY                                      SIZE      COMMENT\n" +
				"5b7529c6da8d   2 days ago   /bin/sh -c #(nop)  CMD [\"sh\"]                   0B        \n" +
				"<missing>      2 days ago   /bin/sh -c #(nop) ADD file:7e9002edaafd4e457…   4.26MB    imported\n" +
				"<missing>      N/A          tab here                                        999B      \n"},
		{"not human", HistoryOptions{}, true, false,
			"IMAGE          CREATED AT             CREATED BY                                      SIZE      COMMENT\n" +
				"5b7529c6da8d   2025-12-29T23:00:00Z   /bin/sh -c #(nop)  CMD [\"sh\"]                   0         \n" +
				"<missing>      2025-12-29T23:00:00Z   /bin/sh -c #(nop) ADD file:7e9002edaafd4e457…   4261550   imported\n" +
				"<missing>      1970-01-01T00:00:00Z   tab here                                        999       \n"},
		{"quiet", HistoryOptions{Quiet: true, Human: true}, true, true, "5b7529c6da8d\n<missing>\n<missing>\n"},
		{"no-trunc format", HistoryOptions{Format: "{{.ID}}|{{.CreatedBy}}", Human: true}, false, true,
			items[0].ID + "|" + items[0].CreatedBy + "\n<missing>|" + items[1].CreatedBy + "\n<missing>|tab here\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			old := time.Local
			time.Local = time.UTC
			t.Cleanup(func() { time.Local = old })
			var b bytes.Buffer
			if err := writeHistory(&b, historyFormat(c.opts), c.trunc, c.human, now, items); err != nil {
				t.Fatal(err)
			}
			if b.String() != c.output {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), c.output)
			}
		})
	}
}

func TestDiskUsageRows(t *testing.T) {
	du := client.DiskUsageResult{
		Images: client.ImagesDiskUsage{TotalSize: 10_000_000, Items: []image.Summary{
			{Size: 6_000_000, SharedSize: 1_000_000, Containers: 1},
			{Size: 5_000_000, SharedSize: 1_000_000, Containers: 0},
		}},
		Containers: client.ContainersDiskUsage{Items: []container.Summary{
			{State: container.StateRunning, SizeRw: 100},
			{State: container.StateExited, SizeRw: 300},
		}},
	}
	var b bytes.Buffer
	if err := writeRows(&b, defaultDiskUsageFormat, diskUsageHeader, diskUsageRows(du)); err != nil {
		t.Fatal(err)
	}
	want := "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\n" +
		"Images          2         1         10MB      5MB (50%)\n" +
		"Containers      2         1         400B      300B (75%)\n" +
		"Local Volumes   0         0         0B        0B\n" +
		"Build Cache     0         0         0B        0B\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestRmiAndPruneOutput(t *testing.T) {
	f := newAPIFake(t)
	f.json("DELETE /images/busybox", 200, []image.DeleteResponse{{Untagged: "busybox:latest"}, {Deleted: "sha256:aaa"}})
	f.json("DELETE /images/inuse", 409, map[string]string{"message": `conflict: unable to remove repository reference "inuse" (must force) - container 1a2b3c4d5e6f is using its referenced image 5b7529c6da8d`})
	code, out, errOut := f.run("", "rmi", "busybox", "nosuch", "inuse")
	if code != 1 || out != "Untagged: busybox:latest\nDeleted: sha256:aaa\n" ||
		!strings.Contains(errOut, "page not found") || !strings.Contains(errOut, `unable to remove repository reference "inuse" (must force)`) {
		t.Errorf("rmi: %d %q %q", code, out, errOut)
	}
	if q := url.Values(f.requests("DELETE /images/busybox")[0].Query); q.Get("noprune") != "" || q.Get("force") != "" {
		t.Errorf("rmi query %v", q)
	}
	code, _, _ = f.run("", "image", "rm", "-f", "--no-prune", "busybox")
	if q := url.Values(f.requests("DELETE /images/busybox")[1].Query); code != 0 || q.Get("noprune") != "1" || q.Get("force") != "1" {
		t.Errorf("image rm -f --no-prune: %d %v", code, q)
	}

	f.json("POST /images/prune", 200, image.PruneReport{ImagesDeleted: []image.DeleteResponse{{Untagged: "a:1"}, {Deleted: "sha256:bbb"}}, SpaceReclaimed: 4261550})
	code, out, _ = f.run("n\n", "image", "prune", "-a")
	if code != 0 || out != "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue? [y/N] " || len(f.requests("POST /images/prune")) != 0 {
		t.Errorf("prune -a answered no: %d %q", code, out)
	}
	code, out, _ = f.run("", "image", "prune", "-f", "--filter", "until=24h")
	want := "Deleted Images:\nuntagged: a:1\ndeleted: sha256:bbb\n\nTotal reclaimed space: 4.262MB\n"
	if code != 0 || out != want {
		t.Errorf("prune -f: %d %q, want %q", code, out, want)
	}
	if q := url.Values(f.only("POST /images/prune").Query).Get("filters"); !strings.Contains(q, `"dangling":{"true":true}`) || !strings.Contains(q, `"until":{"24h":true}`) {
		t.Errorf("prune filters %s", q)
	}

	f.json("GET /images/busybox/history", 200, []image.HistoryResponseItem{{ID: "<missing>", CreatedBy: "x", Size: 2140160}})
	code, out, errOut = f.run("", "history", "-H=false", "--format", "{{.ID}} {{.Size}}", "busybox")
	if code != 0 || out != "<missing> 2140160\n" {
		t.Errorf("history through -H ADDRESS: %d %q %q", code, out, errOut)
	}

	f.on("POST /images/busybox/tag", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201) })
	if code, _, errOut = f.run("", "tag", "busybox", "registry.example.com:5000/my-private/image"); code != 0 {
		t.Fatalf("tag: %d %s", code, errOut)
	}
	if q := url.Values(f.only("POST /images/busybox/tag").Query); q.Get("repo") != "registry.example.com:5000/my-private/image" || q.Get("tag") != "latest" {
		t.Errorf("tag query %v", q)
	}
}
