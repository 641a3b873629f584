package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// dockerIn runs the real docker CLI against d with stdin.
func (d *Daemon) dockerIn(stdin string, args ...string) Result {
	d.t.Helper()
	docker, err := exec.LookPath("docker")
	if err != nil {
		if os.Getenv("CI") == "true" {
			d.t.Fatal("docker CLI not found (expected at /usr/local/bin/docker)")
		}
		d.t.Skip("docker CLI not installed")
	}
	cfg := filepath.Join(d.DataRoot, "docker-config")
	os.MkdirAll(cfg, 0o700)
	return d.run(strings.NewReader(stdin), docker, args, "DOCKER_HOST=unix://"+d.Sock, "DOCKER_CONFIG="+cfg, "DOCKER_CLI_HINTS=false")
}

// api sends one raw Engine API request to d.
func (d *Daemon) api(t *testing.T, method, path string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	c := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", d.Sock)
	}}, Timeout: time.Minute}
	req, err := http.NewRequest(method, "http://berth/v1.47"+path, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func tarEntries(t *testing.T, data string) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(strings.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("bad tar: %v", err)
		}
		b, _ := io.ReadAll(tr)
		if h.Typeflag == tar.TypeSymlink {
			b = []byte("-> " + h.Linkname)
		}
		out[h.Name] = string(b)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Errorf("read %s: %v", p, err)
	}
	return string(b)
}

// TestDockerCp copies files, directories and tar streams both ways with the docker
// CLI, into a running and a stopped container.
func TestDockerCp(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Docker("run", "-d", "--name", "box", "busybox", "sh", "-c", "mkdir -p /data/sub && echo A > /data/a && echo B > /data/sub/b && ln -s a /data/rel && touch /ready && sleep 300"))
	for deadline := time.Now().Add(10 * time.Second); d.Docker("cp", "box:/ready", t.TempDir()).Code != 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("container did not get ready")
		}
	}
	local := t.TempDir()
	t.Chdir(local)
	os.WriteFile("hello.txt", []byte("hello from host\n"), 0o640)
	os.MkdirAll("tree/sub", 0o755)
	os.WriteFile("tree/x", []byte("x\n"), 0o644)
	os.WriteFile("tree/sub/y", []byte("y\n"), 0o600)

	// Host to container: a file into a directory, a file under a new name, a directory.
	must(t, d.Docker("cp", "hello.txt", "box:/tmp/"))
	must(t, d.Docker("cp", "hello.txt", "box:/tmp/renamed.txt"))
	must(t, d.Docker("cp", "tree", "box:/tmp/tree"))
	must(t, d.Docker("cp", "tree/.", "box:/data/"))
	// Container to host, as file, directory, directory contents and symlink.
	must(t, d.Docker("cp", "box:/tmp/hello.txt", "back.txt"))
	must(t, d.Docker("cp", "box:/tmp/renamed.txt", "back2.txt"))
	must(t, d.Docker("cp", "box:/tmp/tree", "tree2"))
	must(t, d.Docker("cp", "box:/data", "data"))
	os.Mkdir("contents", 0o755)
	must(t, d.Docker("cp", "box:/data/.", "contents"))
	for p, want := range map[string]string{
		"back.txt": "hello from host\n", "back2.txt": "hello from host\n", "tree2/x": "x\n", "tree2/sub/y": "y\n",
		"data/a": "A\n", "data/sub/b": "B\n", "data/x": "x\n", "data/sub/y": "y\n", "contents/a": "A\n", "contents/sub/y": "y\n",
	} {
		if got := readFile(t, p); got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	if fi, err := os.Stat("back.txt"); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode not kept: %v %v", fi.Mode(), err)
	}
	if l, err := os.Readlink("data/rel"); err != nil || l != "a" {
		t.Errorf("symlink copied as %q, %v", l, err)
	}
	must(t, d.Docker("cp", "-L", "box:/data/rel", "followed"))
	if got := readFile(t, "followed"); got != "A\n" {
		t.Errorf("cp -L gave %q", got)
	}

	// Tar streams on stdout and stdin.
	out := must(t, d.Docker("cp", "box:/tmp/tree", "-")).Stdout
	ents := tarEntries(t, out)
	if names := slices.Sorted(mapsKeys(ents)); !slices.Equal(names, []string{"tree/", "tree/sub/", "tree/sub/y", "tree/x"}) {
		t.Errorf("tar of /tmp/tree: %v", names)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "streamed/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "streamed/f", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3})
	tw.Write([]byte("st\n"))
	tw.Close()
	must(t, d.dockerIn(buf.String(), "cp", "-", "box:/tmp"))
	if got := tarEntries(t, must(t, d.Docker("cp", "box:/tmp/streamed/f", "-")).Stdout); got["f"] != "st\n" {
		t.Errorf("tar from stdin: %v", got)
	}

	// Errors.
	if r := d.Docker("cp", "box:/nope", "x"); r.Code == 0 || !strings.Contains(r.Stderr, "Could not find the file /nope in container box") {
		t.Errorf("cp of a missing file: %s", r)
	}
	if r := d.Docker("cp", "hello.txt", "box:/nodir/sub/"); r.Code == 0 {
		t.Errorf("cp into a missing directory: %s", r)
	}

	// A stopped container and a never started one: same, with the snapshot mounted
	// for the copy only (the harness checks that no mount is left).
	must(t, d.Docker("stop", "-t", "1", "box"))
	must(t, d.Docker("cp", "hello.txt", "box:/data/while-stopped"))
	must(t, d.Docker("cp", "box:/data/while-stopped", "stopped.txt"))
	must(t, d.Docker("cp", "box:/tmp/tree/sub/y", "stopped-y"))
	if readFile(t, "stopped.txt") != "hello from host\n" || readFile(t, "stopped-y") != "y\n" {
		t.Error("copy with a stopped container")
	}
	must(t, d.Docker("create", "--name", "fresh", "busybox", "true"))
	must(t, d.Docker("cp", "hello.txt", "fresh:/"))
	must(t, d.Docker("cp", "fresh:/hello.txt", "fresh.txt"))
	if readFile(t, "fresh.txt") != "hello from host\n" {
		t.Error("copy with a created container")
	}
}

func mapsKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestDockerCpSymlinkEscape: symlinks in the container pointing at "/", at
// "../../../../etc" and at host paths resolve inside the container, reading and
// writing. Every check would fail if a host file were read or written.
func TestDockerCpSymlinkEscape(t *testing.T) {
	d := StartDaemon(t)
	host, err := os.MkdirTemp("", "berth-escape-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(host)
	os.WriteFile(filepath.Join(host, "secret"), []byte("HOST SECRET\n"), 0o644)
	os.WriteFile(filepath.Join(host, "only-on-host"), []byte("HOST\n"), 0o644)
	script := strings.Join([]string{
		"ln -s / /evil", "ln -s ../../../../etc /link", "mkdir -p " + host, "echo container secret > " + host + "/secret",
		"ln -s " + host + " /hostdir", "ln -s " + strings.Repeat("../", 10) + strings.TrimPrefix(host, "/") + " /reldir",
		"ln -s " + host + "/only-on-host /dangling", "touch /ready", "sleep 300",
	}, " && ")
	must(t, d.Docker("run", "-d", "--name", "box", "busybox", "sh", "-c", script))
	for deadline := time.Now().Add(10 * time.Second); d.Docker("cp", "box:/ready", t.TempDir()).Code != 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("container did not get ready")
		}
	}
	local := t.TempDir()
	t.Chdir(local)
	hostPasswd, _ := os.ReadFile("/etc/passwd")
	must(t, d.Docker("cp", "box:/etc/passwd", "passwd.container"))
	containerPasswd := readFile(t, "passwd.container")
	if containerPasswd == string(hostPasswd) {
		t.Fatal("the container's passwd is the host's: the test cannot tell them apart")
	}

	// Reading through the links gives the container's files.
	for i, src := range []string{"box:/link/passwd", "box:/evil/etc/passwd", "box:/link/../../../../etc/passwd", "box:/evil/../../../etc/passwd"} {
		dst := "p" + itoa(i)
		must(t, d.Docker("cp", src, dst))
		if readFile(t, dst) != containerPasswd {
			t.Errorf("%s is not the container's passwd", src)
		}
	}
	for i, src := range []string{"box:/hostdir/secret", "box:/reldir/secret", "box:/evil" + host + "/secret"} {
		dst := "s" + itoa(i)
		must(t, d.Docker("cp", src, dst))
		if got := readFile(t, dst); got != "container secret\n" {
			t.Errorf("%s gave %q", src, got)
		}
	}
	must(t, d.Docker("cp", "-L", "box:/hostdir", "followed"))
	if got := readFile(t, "followed/secret"); got != "container secret\n" {
		t.Errorf("cp -L of a link to a host path gave %q", got)
	}
	for _, src := range []string{"box:/hostdir/only-on-host", "box:/reldir/only-on-host", "box:/evil" + host + "/only-on-host"} {
		if r := d.Docker("cp", src, "x"); r.Code == 0 || !strings.Contains(r.Stderr, "Could not find the file") {
			t.Errorf("%s: %s", src, r)
		}
	}
	if r := d.Docker("cp", "-L", "box:/dangling", "x"); r.Code == 0 {
		t.Errorf("cp -L of a link to a host-only file: %s", r)
	}
	// The link itself is what a plain cp copies.
	must(t, d.Docker("cp", "box:/evil", "evil"))
	if l, err := os.Readlink("evil"); err != nil || l != "/" {
		t.Errorf("link copied as %q, %v", l, err)
	}

	// Writing through the links lands in the container.
	name := filepath.Base(local) + ".written"
	os.WriteFile(name, []byte("written\n"), 0o644)
	for _, dst := range []string{"box:/evil/tmp/", "box:/link/", "box:/hostdir/", "box:/reldir/", "box:/evil/etc/../../../root/"} {
		must(t, d.Docker("cp", name, dst))
	}
	for _, p := range []string{"/tmp/", "/etc/", host + "/", "/root/"} {
		if _, err := os.Lstat(p + name); err == nil {
			os.Remove(p + name)
			t.Errorf("host file %s written", p+name)
		}
		if r := d.Docker("cp", "box:"+p+name, "check"); r.Code != 0 || readFile(t, "check") != "written\n" {
			t.Errorf("container file %s: %s", p+name, r)
		}
	}
	if got := readFile(t, filepath.Join(host, "secret")); got != "HOST SECRET\n" {
		t.Errorf("host secret changed: %q", got)
	}
	if ents, _ := os.ReadDir(host); len(ents) != 2 {
		t.Errorf("host directory changed: %v", ents)
	}
	// A tar whose own entries climb out or go through a link is refused.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "../../../../../" + strings.TrimPrefix(host, "/") + "/climbed", Typeflag: tar.TypeReg, Mode: 0o644})
	tw.Close()
	resp, body := d.api(t, "PUT", "/containers/box/archive?path=/tmp", &buf)
	if resp.StatusCode != 400 {
		t.Errorf("climbing entry: %d %s", resp.StatusCode, body)
	}
	buf.Reset()
	tw = tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "hostdir/through-link", Typeflag: tar.TypeReg, Mode: 0o644})
	tw.Close()
	if resp, body := d.api(t, "PUT", "/containers/box/archive?path=/", &buf); resp.StatusCode != 400 {
		t.Errorf("entry through a link: %d %s", resp.StatusCode, body)
	}
	if ents, _ := os.ReadDir(host); len(ents) != 2 {
		t.Errorf("host directory changed: %v", ents)
	}

	// The same once the container is stopped.
	must(t, d.Docker("stop", "-t", "1", "box"))
	must(t, d.Docker("cp", "box:/link/passwd", "stopped-passwd"))
	must(t, d.Docker("cp", name, "box:/evil/tmp/stopped-"+name))
	if readFile(t, "stopped-passwd") != containerPasswd {
		t.Error("stopped: read through /link is not the container's")
	}
	if _, err := os.Lstat("/tmp/stopped-" + name); err == nil {
		os.Remove("/tmp/stopped-" + name)
		t.Error("stopped: host /tmp written")
	}
}

// TestArchiveAPI checks the archive endpoints' status codes, headers and the
// container's own /etc/hostname.
func TestArchiveAPI(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Docker("run", "-d", "--name", "box", "--hostname", "boxhost", "busybox", "sleep", "300"))
	// The runtime's mount points (/proc, /dev, /etc/hostname, …) are no change.
	if r := must(t, d.Docker("diff", "box")); r.Stdout != "" {
		t.Errorf("diff of an untouched container: %q", r.Stdout)
	}

	resp, _ := d.api(t, "HEAD", "/containers/box/archive?path=/etc/passwd", nil)
	raw := resp.Header.Get("X-Docker-Container-Path-Stat")
	b, _ := base64.StdEncoding.DecodeString(raw)
	var st struct {
		Name       string `json:"name"`
		Size       int64  `json:"size"`
		Mode       uint32 `json:"mode"`
		LinkTarget string `json:"linkTarget"`
	}
	json.Unmarshal(b, &st)
	if resp.StatusCode != 200 || st.Name != "passwd" || st.Size == 0 || st.Mode&0o777 != 0o644 {
		t.Errorf("HEAD /etc/passwd: %d %s", resp.StatusCode, b)
	}
	for path, code := range map[string]int{
		"/containers/box/archive?path=/nope":   404,
		"/containers/box/archive":              400,
		"/containers/ghost/archive?path=/etc":  404,
		"/containers/box/archive?path=/etc/./": 200,
	} {
		if resp, body := d.api(t, "GET", path, nil); resp.StatusCode != code {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
		}
	}
	if resp, body := d.api(t, "GET", "/containers/box/archive?path=/nope", nil); !strings.Contains(string(body), "Could not find the file /nope in container box") {
		t.Errorf("404 message: %d %s", resp.StatusCode, body)
	}
	for path, code := range map[string]int{
		"/containers/box/archive?path=/etc/passwd": 400, // not a directory
		"/containers/box/archive?path=/nope":       404,
	} {
		if resp, body := d.api(t, "PUT", path, strings.NewReader("")); resp.StatusCode != code {
			t.Errorf("PUT %s: %d %s", path, resp.StatusCode, body)
		}
	}
	// /etc/hostname is the container's, as a process inside sees it.
	local := t.TempDir()
	must(t, d.Docker("cp", "box:/etc/hostname", filepath.Join(local, "hostname")))
	if got := readFile(t, filepath.Join(local, "hostname")); got != "boxhost\n" {
		t.Errorf("/etc/hostname = %q", got)
	}
}

// TestDockerDiffCommitExport: diff lists added, changed and deleted paths (not the
// runtime's mount points); commit makes an image that runs with the changes and the
// --change config; export writes the merged filesystem.
func TestDockerDiffCommitExport(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Docker("run", "--name", "ch", "busybox", "sh", "-c",
		"echo hi > /newfile && rm /etc/group && echo extra:x:9:9::/:/bin/sh >> /etc/passwd && mkdir /newdir && touch /newdir/f"))
	diff := must(t, d.Docker("diff", "ch")).Stdout
	lines := strings.Split(strings.TrimSpace(diff), "\n")
	want := []string{"C /etc", "D /etc/group", "C /etc/passwd", "A /newdir", "A /newdir/f", "A /newfile"}
	if !slices.Equal(lines, want) {
		t.Errorf("docker diff:\n%s\nwant:\n%s", diff, strings.Join(want, "\n"))
	}

	out := must(t, d.Docker("commit", "-a", "tester", "-m", "a commit", "-c", `CMD ["cat", "/newfile"]`, "-c", "ENV FOO=bar",
		"-c", "WORKDIR /newdir", "-c", "EXPOSE 8080", "ch", "committed:v1")).Stdout
	id := strings.TrimSpace(out)
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(id) {
		t.Fatalf("commit printed %q", out)
	}
	if r := must(t, d.Docker("run", "--rm", "committed:v1")); r.Stdout != "hi\n" {
		t.Errorf("run of the committed image: %q", r.Stdout)
	}
	r := must(t, d.Docker("run", "--rm", "committed:v1", "sh", "-c", "echo $FOO; pwd; test -e /etc/group || echo nogroup; grep -c extra /etc/passwd"))
	if r.Stdout != "bar\n/newdir\nnogroup\n1\n" {
		t.Errorf("committed image: %q", r.Stdout)
	}
	insp := strings.TrimSpace(must(t, d.Docker("image", "inspect", "-f", "{{.ID}} {{len .RootFS.Layers}} {{.Author}} {{json .Config.Cmd}} {{json .Config.ExposedPorts}}", "committed:v1")).Stdout)
	base := strings.TrimSpace(must(t, d.Docker("image", "inspect", "-f", "{{len .RootFS.Layers}}", "busybox")).Stdout)
	if want := id + " " + itoa(atoi(t, base)+1) + ` tester ["cat","/newfile"] {"8080/tcp":{}}`; insp != want {
		t.Errorf("image inspect: %q, want %q", insp, want)
	}
	if r := d.Docker("commit", "-c", "RUN true", "ch"); r.Code == 0 || !strings.Contains(r.Stderr, "run is not a valid change command") {
		t.Errorf("bad --change: %s", r)
	}
	if r := d.Docker("commit", "ghost"); r.Code == 0 || !strings.Contains(r.Stderr, "No such container: ghost") {
		t.Errorf("commit of a missing container: %s", r)
	}

	// A running container commits too (paused meanwhile), and keeps running.
	must(t, d.Docker("run", "-d", "--name", "live", "busybox", "sh", "-c", "echo live > /live && sleep 300"))
	for deadline := time.Now().Add(10 * time.Second); d.Docker("cp", "live:/live", t.TempDir()).Code != 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("container did not write its file")
		}
	}
	must(t, d.Docker("commit", "live", "live:1"))
	if r := must(t, d.Docker("run", "--rm", "live:1", "cat", "/live")); r.Stdout != "live\n" {
		t.Errorf("committed running container: %q", r.Stdout)
	}
	if s := strings.TrimSpace(must(t, d.Docker("inspect", "-f", "{{.State.Status}}", "live")).Stdout); s != "running" {
		t.Errorf("container after commit: %s", s)
	}

	// export: the image's files with the changes, no whiteouts.
	tarPath := filepath.Join(t.TempDir(), "fs.tar")
	must(t, d.Docker("export", "-o", tarPath, "ch"))
	data, err := os.ReadFile(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	ents := tarEntries(t, string(data))
	if ents["newfile"] != "hi\n" || !strings.Contains(ents["etc/passwd"], "extra:x:9:9") || ents["bin/busybox"] == "" {
		t.Errorf("export lacks the image's files or the changes (%d entries)", len(ents))
	}
	for n := range ents {
		if n == "etc/group" || strings.Contains(n, ".wh.") {
			t.Errorf("export has %s", n)
		}
	}
	if stdout := must(t, d.Docker("export", "live")).Stdout; tarEntries(t, stdout)["live"] != "live\n" {
		t.Error("export of a running container to stdout lacks its file")
	}
	if r := d.Docker("export", "ghost"); r.Code == 0 || !strings.Contains(r.Stderr, "No such container: ghost") {
		t.Errorf("export of a missing container: %s", r)
	}
}
