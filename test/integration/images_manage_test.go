package integration

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// imageAPI sends one request to berthd's socket and returns the status and body.
func (d *Daemon) imageAPI(t *testing.T, method, path string) (int, []byte) {
	t.Helper()
	c := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", d.Sock)
	}}, Timeout: time.Minute}
	req, err := http.NewRequest(method, "http://berth/v1.47"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func imageID(t *testing.T, d *Daemon, ref string) string {
	t.Helper()
	return strings.TrimSpace(must(t, d.Berth("image", "inspect", "--format", "{{.Id}}", ref)).Stdout)
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

func TestImageTagNamespaces(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("pull", "-q", "busybox"))
	id := imageID(t, d, "busybox")
	for _, target := range []string{"ubuntu", "jpetazzo/clock", "registry.example.com:5000/my-private/image", "mybox:v1"} {
		must(t, d.Berth("tag", "busybox", target))
	}
	must(t, d.Docker("tag", "busybox:latest", "jpetazzo/clock:v2"))
	got := lines(must(t, d.Berth("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")).Stdout)
	want := []string{"busybox:latest", "ubuntu:latest", "jpetazzo/clock:latest", "jpetazzo/clock:v2",
		"registry.example.com:5000/my-private/image:latest", "mybox:v1"}
	for _, w := range want {
		if !slices.Contains(got, w+" "+strings.TrimPrefix(id, "sha256:")[:12]) {
			t.Errorf("images lacks %s -> %s:\n%s", w, id, strings.Join(got, "\n"))
		}
	}
	for _, ref := range []string{"docker.io/library/ubuntu:latest", "docker.io/jpetazzo/clock", "registry.example.com:5000/my-private/image:latest"} {
		if got := imageID(t, d, ref); got != id {
			t.Errorf("%s resolves to %s, want %s", ref, got, id)
		}
	}

	// Bad names: refused by the API with 400 and docker's message, by the CLI before.
	code, body := d.imageAPI(t, "POST", "/images/busybox/tag?repo=Bad/Name")
	if code != 400 || !strings.Contains(string(body), "invalid reference format") {
		t.Errorf("tag with bad repo: %d %s", code, body)
	}
	code, body = d.imageAPI(t, "POST", "/images/busybox/tag?repo=ok&tag=bad:tag")
	if code != 400 || !strings.Contains(string(body), "invalid tag format") {
		t.Errorf("tag with bad tag: %d %s", code, body)
	}
	code, body = d.imageAPI(t, "POST", "/images/busybox/tag?repo=fine&tag=v3")
	if code != 201 {
		t.Errorf("tag: %d %s", code, body)
	}
	if r := d.Berth("tag", "busybox", "Bad/Name"); r.Code == 0 || !strings.Contains(r.Stderr, "invalid reference format") {
		t.Errorf("berth tag with bad target: %s", r)
	}
	if r := d.Berth("tag", "nosuch", "x"); r.Code != 1 || !strings.Contains(r.Stderr, "No such image: nosuch:latest") {
		t.Errorf("tag of a missing image: %s", r)
	}

	// Names with slashes and ports reach DELETE /images/{name} whole.
	if r := must(t, d.Berth("rmi", "registry.example.com:5000/my-private/image")); r.Stdout != "Untagged: registry.example.com:5000/my-private/image:latest\n" {
		t.Errorf("rmi of a self-hosted name: %q", r.Stdout)
	}
	if r := must(t, d.Docker("rmi", "jpetazzo/clock:v2")); r.Stdout != "Untagged: jpetazzo/clock:v2\n" {
		t.Errorf("docker rmi jpetazzo/clock:v2: %q", r.Stdout)
	}
}

func TestImageRmi(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("pull", "-q", "busybox"))
	id := imageID(t, d, "busybox")
	short := strings.TrimPrefix(id, "sha256:")[:12]
	must(t, d.Berth("tag", "busybox", "ubuntu"))
	must(t, d.Berth("tag", "busybox", "jpetazzo/clock"))

	// Untag while other tags remain.
	if r := must(t, d.Berth("rmi", "ubuntu")); r.Stdout != "Untagged: ubuntu:latest\n" {
		t.Errorf("rmi ubuntu: %q", r.Stdout)
	}
	if r := must(t, d.Docker("rmi", "jpetazzo/clock")); r.Stdout != "Untagged: jpetazzo/clock:latest\n" {
		t.Errorf("docker rmi jpetazzo/clock: %q", r.Stdout)
	}
	must(t, d.Berth("tag", "busybox", "mybox"))
	// By ID with two repositories: refused unless forced.
	r := d.Berth("rmi", short)
	if want := "conflict: unable to delete " + short + " (must be forced) - image is referenced in multiple repositories"; r.Code != 1 || !strings.Contains(r.Stderr, want) {
		t.Errorf("rmi by ID with two repositories: %s\nwant %s", r, want)
	}
	code, _ := d.imageAPI(t, "DELETE", "/images/"+short)
	if code != 409 {
		t.Errorf("DELETE by ID with two repositories: status %d, want 409", code)
	}
	must(t, d.Berth("rmi", "mybox"))

	// A stopped container keeps its image.
	cid := strings.TrimSpace(must(t, d.Berth("create", "busybox", "true")).Stdout)
	r = d.Berth("rmi", "busybox")
	want := `Error response from daemon: conflict: unable to remove repository reference "busybox" (must force) - container ` + cid[:12] + " is using its referenced image " + short
	if r.Code != 1 || strings.TrimSpace(r.Stderr) != want {
		t.Errorf("rmi of an image in use:\n%s\nwant %s", r, want)
	}
	if r := d.Docker("rmi", "busybox"); r.Code != 1 || strings.TrimSpace(r.Stderr) != want {
		t.Errorf("docker rmi of an image in use:\n%s\nwant %s", r, want)
	}
	r = d.Berth("rmi", short)
	if want := "conflict: unable to delete " + short + " (must be forced) - image is being used by stopped container " + cid[:12]; r.Code != 1 || !strings.Contains(r.Stderr, want) {
		t.Errorf("rmi by ID of an image in use: %s\nwant %s", r, want)
	}
	must(t, d.Berth("rm", cid))

	// A running container: -f untags and leaves the image dangling.
	cid = strings.TrimSpace(must(t, d.Berth("run", "-d", "busybox", "sleep", "60")).Stdout)
	r = must(t, d.Berth("rmi", "-f", "busybox"))
	if ls := lines(r.Stdout); len(ls) != 2 || ls[0] != "Untagged: busybox:latest" || !strings.HasPrefix(ls[1], "Untagged: busybox@sha256:") {
		t.Errorf("rmi -f of an image a running container uses: %q", r.Stdout)
	}
	if got := strings.TrimSpace(must(t, d.Berth("images", "-q", "--filter", "dangling=true")).Stdout); got != short {
		t.Errorf("dangling images after rmi -f: %q, want %s", got, short)
	}
	r = d.Berth("rmi", "-f", short)
	if want := "conflict: unable to delete " + short + " (cannot be forced) - image is being used by running container " + cid[:12]; r.Code != 1 || !strings.Contains(r.Stderr, want) {
		t.Errorf("rmi -f by ID of an image a running container uses: %s\nwant %s", r, want)
	}
	must(t, d.Berth("rm", "-f", cid))
	r = must(t, d.Berth("rmi", short))
	if ls := lines(r.Stdout); len(ls) < 2 || ls[0] != "Deleted: "+id || !strings.HasPrefix(ls[1], "Deleted: sha256:") {
		t.Errorf("rmi of the dangling image: %q", r.Stdout)
	}

	// A full delete frees the blobs and layers.
	must(t, d.Berth("pull", "-q", "busybox"))
	r = must(t, d.Berth("rmi", "busybox"))
	ls := lines(r.Stdout)
	if len(ls) != 4 || ls[0] != "Untagged: busybox:latest" || !strings.HasPrefix(ls[1], "Untagged: busybox@sha256:") || ls[2] != "Deleted: "+id || !strings.HasPrefix(ls[3], "Deleted: sha256:") {
		t.Errorf("rmi busybox: %q", r.Stdout)
	}
	if blobs, _ := os.ReadDir(filepath.Join(d.DataRoot, "content", "blobs", "sha256")); len(blobs) != 0 {
		t.Errorf("%d blobs left after rmi", len(blobs))
	}
	if out := must(t, d.Berth("images", "-q")).Stdout; out != "" {
		t.Errorf("images after rmi: %q", out)
	}
	if r := d.Berth("rmi", "busybox"); r.Code != 1 || !strings.Contains(r.Stderr, "No such image: busybox:latest") {
		t.Errorf("rmi of a missing image: %s", r)
	}

	// rmi -f of an image a stopped container uses deletes it; its layers go with the container.
	must(t, d.Berth("pull", "-q", "busybox"))
	cid = strings.TrimSpace(must(t, d.Berth("create", "busybox", "true")).Stdout)
	r = must(t, d.Berth("rmi", "-f", "busybox"))
	if ls := lines(r.Stdout); len(ls) != 3 || ls[2] != "Deleted: "+id {
		t.Errorf("rmi -f of an image a stopped container uses: %q", r.Stdout)
	}
	snaps := filepath.Join(d.DataRoot, "snapshots", "overlay")
	if ents, _ := os.ReadDir(snaps); len(ents) == 0 {
		t.Errorf("the container's layers went before the container")
	}
	must(t, d.Berth("rm", cid))
	var left []string
	ents, _ := os.ReadDir(snaps)
	for _, e := range ents {
		if e.IsDir() {
			left = append(left, e.Name())
		}
	}
	if len(left) != 0 {
		t.Errorf("snapshots left after the last user of a deleted image went: %v", left)
	}
	if r := d.Berth("rmi", "-f", "busybox"); r.Code != 0 || !strings.Contains(r.Stderr, "No such image: busybox:latest") {
		t.Errorf("rmi -f of a missing image: %s", r)
	}
}

func TestImagesFilters(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("pull", "-q", "busybox"))
	must(t, d.Berth("pull", "-q", "debian:bookworm"))
	must(t, d.Berth("tag", "busybox", "jpetazzo/clock"))
	cid := strings.TrimSpace(must(t, d.Berth("create", "busybox", "true")).Stdout)
	time.Sleep(1100 * time.Millisecond) // created times have second resolution in filters' output
	dangling := strings.TrimPrefix(strings.TrimSpace(must(t, d.Berth("commit", cid)).Stdout), "sha256:")[:12]
	must(t, d.Berth("commit", "--change", "LABEL tier=web", cid, "labeled:1"))
	must(t, d.Berth("rm", cid))

	repos := func(args ...string) []string {
		t.Helper()
		out := must(t, d.Berth(append([]string{"images", "--format", "{{.Repository}}:{{.Tag}}"}, args...)...)).Stdout
		ls := lines(out)
		slices.Sort(ls)
		return ls
	}
	cases := []struct {
		args []string
		want []string
	}{
		{nil, []string{"<none>:<none>", "busybox:latest", "debian:bookworm", "jpetazzo/clock:latest", "labeled:1"}},
		{[]string{"--filter", "dangling=true"}, []string{"<none>:<none>"}},
		{[]string{"--filter", "dangling=false"}, []string{"busybox:latest", "debian:bookworm", "jpetazzo/clock:latest", "labeled:1"}},
		{[]string{"--filter", "reference=busy*"}, []string{"busybox:latest"}},
		{[]string{"--filter", "reference=*/clock"}, []string{"jpetazzo/clock:latest"}},
		{[]string{"--filter", "reference=debian:book*"}, []string{"debian:bookworm"}},
		{[]string{"busybox"}, []string{"busybox:latest"}},
		{[]string{"--filter", "label=tier=web"}, []string{"labeled:1"}},
		{[]string{"--filter", "label=tier"}, []string{"labeled:1"}},
		{[]string{"--filter", "label=tier=db"}, nil},
		{[]string{"--filter", "since=busybox"}, []string{"<none>:<none>", "labeled:1"}},
		{[]string{"--filter", "before=labeled:1", "--filter", "reference=busybox"}, []string{"busybox:latest"}},
	}
	for _, c := range cases {
		if got := repos(c.args...); !slices.Equal(got, c.want) {
			t.Errorf("images %v: %q, want %q", c.args, got, c.want)
		}
	}
	if got := strings.TrimSpace(must(t, d.Docker("images", "-q", "--filter", "dangling=true")).Stdout); got != dangling {
		t.Errorf("docker images -q dangling=true: %q, want %s", got, dangling)
	}
	if got := lines(must(t, d.Docker("images", "--filter", "reference=jpetazzo/*", "--format", "{{.Repository}}")).Stdout); !slices.Equal(got, []string{"jpetazzo/clock"}) {
		t.Errorf("docker images reference=jpetazzo/*: %q", got)
	}
	if r := d.Berth("images", "--filter", "bogus=1"); r.Code != 1 || !strings.Contains(r.Stderr, "invalid filter 'bogus'") {
		t.Errorf("unknown filter: %s", r)
	}
	if r := d.Berth("images", "--filter", "dangling=maybe"); r.Code != 1 || !strings.Contains(r.Stderr, "invalid filter 'dangling=maybe'") {
		t.Errorf("bad dangling value: %s", r)
	}
	// docker's table and berth's are the same lines. (The docker CLI groups an image's
	// tags through a Go map, so the order of rows of one image varies from run to run.)
	b := must(t, d.Berth("images")).Stdout
	sortedLines := func(s string) string {
		l := strings.Split(s, "\n")
		sort.Strings(l)
		return strings.Join(l, "\n")
	}
	if dk := must(t, d.Docker("images")).Stdout; sortedLines(b) != sortedLines(dk) {
		t.Errorf("berth images:\n%s\ndocker images:\n%s", b, dk)
	}
	if !regexp.MustCompile(`(?m)^busybox\s+latest\s+[0-9a-f]{12}\s+.+\s+\d+(\.\d+)?[kM]B$`).MatchString(b) {
		t.Errorf("images table:\n%s", b)
	}
	var shared []struct{ SharedSize int64 }
	_, body := d.imageAPI(t, "GET", "/images/json?shared-size=1&filters="+`{"reference":{"busybox":true}}`)
	if err := json.Unmarshal(body, &shared); err != nil || len(shared) != 1 || shared[0].SharedSize <= 0 {
		t.Errorf("shared-size of busybox (its layer is shared with the commits): %s", body)
	}
}

func TestImageHistory(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("pull", "-q", "busybox"))
	must(t, d.Berth("pull", "-q", "debian:bookworm"))
	for _, img := range []string{"busybox", "debian:bookworm"} {
		id := imageID(t, d, img)
		r := must(t, d.Berth("history", img))
		ls := lines(r.Stdout)
		if len(ls) != 3 || !regexp.MustCompile(`^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$`).MatchString(ls[0]) {
			t.Fatalf("history %s:\n%s", img, r.Stdout)
		}
		if !strings.HasPrefix(ls[1], strings.TrimPrefix(id, "sha256:")[:12]+" ") || !regexp.MustCompile(`\s0B\s*$`).MatchString(ls[1]) {
			t.Errorf("top row (the CMD, an empty layer): %q", ls[1])
		}
		if !strings.HasPrefix(ls[2], "<missing> ") || !regexp.MustCompile(`\s\d+(\.\d+)?MB\s*$`).MatchString(ls[2]) {
			t.Errorf("layer row: %q", ls[2])
		}
		for _, args := range [][]string{{"history", img}, {"history", "--no-trunc", img}, {"history", "-H=false", img}, {"history", "-q", img},
			{"history", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Size}}", img}, {"history", "--format", "json", img}} {
			b, dk := must(t, d.Berth(args...)).Stdout, must(t, d.Docker(args...)).Stdout
			if b != dk {
				t.Errorf("%v differs:\nberth:\n%s\ndocker:\n%s", args, b, dk)
			}
		}
	}
	var h []map[string]any
	code, body := d.imageAPI(t, "GET", "/images/busybox/history")
	if err := json.Unmarshal(body, &h); code != 200 || err != nil || len(h) != 2 {
		t.Fatalf("GET history: %d %s", code, body)
	}
	if h[0]["Tags"].([]any)[0] != "busybox:latest" || h[1]["Id"] != "<missing>" || h[1]["Tags"] != nil {
		t.Errorf("history document: %s", body)
	}
	for _, k := range []string{"Id", "Created", "CreatedBy", "Tags", "Size", "Comment"} {
		if _, ok := h[0][k]; !ok {
			t.Errorf("history entry lacks %s: %s", k, body)
		}
	}
	if r := d.Berth("history", "nosuch"); r.Code != 1 || !strings.Contains(r.Stderr, "No such image: nosuch:latest") {
		t.Errorf("history of a missing image: %s", r)
	}
}

// duBytes is `du -sb` of the image stores under root (content and snapshots).
func duBytes(t *testing.T, root string) int64 {
	t.Helper()
	out, err := exec.Command("du", "-sbc", filepath.Join(root, "content"), filepath.Join(root, "snapshots")).Output()
	if err != nil {
		t.Fatal(err)
	}
	ls := lines(string(out))
	n, err := strconv.ParseInt(strings.Fields(ls[len(ls)-1])[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestImagePruneAndDiskUsage(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("pull", "-q", "busybox"))
	must(t, d.Berth("pull", "-q", "debian:bookworm"))
	cid := strings.TrimSpace(must(t, d.Berth("create", "busybox", "true")).Stdout)

	var du struct {
		LayersSize int64
		Images     []struct {
			Size, SharedSize, Containers int64
			RepoTags                     []string
		}
		Containers []any
		Volumes    []any
		BuildCache []any
	}
	_, body := d.imageAPI(t, "GET", "/system/df")
	if err := json.Unmarshal(body, &du); err != nil || len(du.Images) != 2 || len(du.Containers) != 1 || du.Volumes == nil || du.BuildCache == nil {
		t.Fatalf("system df: %s", body)
	}
	var debianSize int64
	for _, img := range du.Images {
		if slices.Contains(img.RepoTags, "debian:bookworm") {
			debianSize = img.Size
			if img.Containers != 0 || img.SharedSize != 0 {
				t.Errorf("debian in df: %+v", img)
			}
		} else if img.Containers != 1 {
			t.Errorf("busybox in df: %+v", img)
		}
	}
	b := must(t, d.Berth("system", "df")).Stdout
	if dk := must(t, d.Docker("system", "df")).Stdout; b != dk {
		t.Errorf("system df differs:\nberth:\n%s\ndocker:\n%s", b, dk)
	}
	ls := lines(b)
	if len(ls) != 5 || !regexp.MustCompile(`^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$`).MatchString(ls[0]) ||
		!regexp.MustCompile(`^Images\s+2\s+1\s+\S+MB\s+\S+MB \(\d+%\)$`).MatchString(ls[1]) ||
		!regexp.MustCompile(`^Containers\s+1\s+0\s+0B\s+0B$`).MatchString(ls[2]) ||
		!regexp.MustCompile(`^Local Volumes\s+0\s+0\s+0B\s+0B$`).MatchString(ls[3]) ||
		!regexp.MustCompile(`^Build Cache\s+0\s+0\s+0B\s+0B$`).MatchString(ls[4]) {
		t.Errorf("system df:\n%s", b)
	}
	v := must(t, d.Berth("system", "df", "-v")).Stdout
	if dk := must(t, d.Docker("system", "df", "-v")).Stdout; v != dk {
		t.Errorf("system df -v differs:\nberth:\n%s\ndocker:\n%s", v, dk)
	}
	for _, f := range []string{"json", "{{.Type}}: {{.Size}}"} {
		if b, dk := must(t, d.Berth("system", "df", "--format", f)).Stdout, must(t, d.Docker("system", "df", "--format", f)).Stdout; b != dk {
			t.Errorf("system df --format %s differs:\nberth:\n%s\ndocker:\n%s", f, b, dk)
		}
	}
	for _, want := range []string{"Images space usage:", "Containers space usage:", "Local Volumes space usage:", "Build cache usage: 0B", "SHARED SIZE", cid[:12]} {
		if !strings.Contains(v, want) {
			t.Errorf("system df -v lacks %q:\n%s", want, v)
		}
	}

	// Nothing dangling: the default prune removes nothing; "n" at the prompt nothing either.
	r := must(t, d.BerthIn("n\n", "image", "prune"))
	if r.Stdout != "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] " {
		t.Errorf("prune answered no: %q", r.Stdout)
	}
	if r := must(t, d.Berth("image", "prune", "-f")); r.Stdout != "Total reclaimed space: 0B\n" {
		t.Errorf("prune with nothing dangling: %q", r.Stdout)
	}

	// prune -a removes debian (unused) and frees what df said it takes, as du sees it.
	before := duBytes(t, d.DataRoot)
	code, body := d.imageAPI(t, "POST", `/images/prune?filters={"dangling":["false"]}`)
	var rep struct {
		ImagesDeleted  []map[string]string
		SpaceReclaimed int64
	}
	if err := json.Unmarshal(body, &rep); code != 200 || err != nil {
		t.Fatalf("prune: %d %s", code, body)
	}
	freed := before - duBytes(t, d.DataRoot)
	if rep.SpaceReclaimed != debianSize {
		t.Errorf("prune reclaimed %d, df reported debian at %d", rep.SpaceReclaimed, debianSize)
	}
	if diff := freed - rep.SpaceReclaimed; diff < -rep.SpaceReclaimed/50 || diff > rep.SpaceReclaimed/20 {
		t.Errorf("du freed %d bytes, prune reported %d", freed, rep.SpaceReclaimed)
	}
	if len(rep.ImagesDeleted) < 3 || rep.ImagesDeleted[0]["Untagged"] != "debian:bookworm" {
		t.Errorf("prune report: %s", body)
	}
	if got := lines(must(t, d.Berth("images", "--format", "{{.Repository}}")).Stdout); !slices.Equal(got, []string{"busybox"}) {
		t.Errorf("images after prune -a: %q (busybox has a container)", got)
	}

	// A dangling image goes with the default prune, through the docker CLI too.
	must(t, d.Berth("rm", cid))
	cid = strings.TrimSpace(must(t, d.Berth("create", "busybox", "true")).Stdout)
	must(t, d.Berth("commit", cid))
	must(t, d.Berth("rm", cid))
	r = must(t, d.Docker("image", "prune", "-f"))
	if !strings.HasPrefix(r.Stdout, "Deleted Images:\ndeleted: sha256:") || !strings.Contains(r.Stdout, "Total reclaimed space: ") {
		t.Errorf("docker image prune -f: %q", r.Stdout)
	}
	before = duBytes(t, d.DataRoot)
	r = must(t, d.BerthIn("y\n", "image", "prune", "-a"))
	if !strings.Contains(r.Stdout, "untagged: busybox:latest\n") || !strings.Contains(r.Stdout, "deleted: sha256:") {
		t.Errorf("prune -a answered yes: %q", r.Stdout)
	}
	freed = before - duBytes(t, d.DataRoot)
	if freed <= 0 {
		t.Errorf("prune -a freed %d bytes", freed)
	}
	if blobs, _ := os.ReadDir(filepath.Join(d.DataRoot, "content", "blobs", "sha256")); len(blobs) != 0 {
		t.Errorf("%d blobs left after pruning every image", len(blobs))
	}
	if out := must(t, d.Berth("system", "df")).Stdout; !regexp.MustCompile(`(?m)^Images\s+0\s+0\s+0B\s+0B$`).MatchString(out) {
		t.Errorf("system df after prune:\n%s", out)
	}
}

func TestImageEvents(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("pull", "-q", "busybox"))
	since := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)
	must(t, d.Berth("tag", "busybox", "mybox"))
	must(t, d.Berth("rmi", "mybox"))
	must(t, d.Berth("rmi", "busybox"))
	until := strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10)
	out := must(t, d.Berth("events", "--since", since, "--until", until, "--filter", "type=image", "--format", "{{.Action}} {{index .Actor.Attributes \"name\"}}")).Stdout
	got := lines(out)
	if len(got) < 4 || got[0] != "tag mybox:latest" || !strings.HasPrefix(got[1], "untag sha256:") || got[len(got)-1][:6] != "delete" {
		t.Errorf("image events:\n%s", out)
	}
}
