package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/test/fixtures"
)

// tarNames lists the regular files of a tar archive with their contents when small.
func tarNames(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		b, _ := io.ReadAll(tr)
		out[hdr.Name] = b
	}
}

func TestImageSaveLoadRoundTrip(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("pull", "-q", "busybox"))
	id := strings.TrimSpace(must(t, d.Berth("image", "inspect", "-f", "{{.Id}}", "busybox")).Stdout)
	file := filepath.Join(t.TempDir(), "busybox.tar")
	must(t, d.Berth("save", "-o", file, "busybox"))
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	files := tarNames(t, data)
	for _, f := range []string{"manifest.json", "index.json", "oci-layout", "repositories", "blobs/sha256/" + strings.TrimPrefix(id, "sha256:")} {
		if _, ok := files[f]; !ok {
			t.Errorf("saved archive lacks %s", f)
		}
	}
	var entries []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &entries); err != nil || len(entries) != 1 {
		t.Fatalf("manifest.json: %v %s", err, files["manifest.json"])
	}
	if e := entries[0]; len(e.RepoTags) != 1 || e.RepoTags[0] != "busybox:latest" || len(e.Layers) == 0 {
		t.Fatalf("manifest.json entry: %+v", e)
	}
	for _, l := range entries[0].Layers {
		b, ok := files[l]
		if !ok {
			t.Fatalf("layer %s missing", l)
		}
		if sum := sha256.Sum256(b); "blobs/sha256/"+hex.EncodeToString(sum[:]) != l {
			t.Fatalf("layer %s has another digest", l)
		}
	}
	if !strings.Contains(string(files["index.json"]), `"io.containerd.image.name":"docker.io/library/busybox:latest"`) {
		t.Errorf("index.json: %s", files["index.json"])
	}
	// GET /images/{name}/get gives the same archive; an unknown name is a 404.
	hc := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", d.Sock)
	}}}
	for path, want := range map[string]int{"/v1.47/images/busybox/get": 200, "/images/docker.io/library/busybox:latest/get": 200, "/images/nosuch/get": 404} {
		resp, err := hc.Get("http://berth" + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || want == 200 && !bytes.Equal(body, data) {
			t.Fatalf("GET %s: %d (%d bytes), want %d and the saved archive", path, resp.StatusCode, len(body), want)
		}
	}
	// Saving an unknown image is a 404 and writes nothing.
	r := d.Berth("save", "-o", file+".2", "nosuchimage")
	if r.Code == 0 || !strings.Contains(r.Stderr, "No such image: nosuchimage") {
		t.Fatalf("save of a missing image: %s", r)
	}
	if _, err := os.Stat(file + ".2"); err == nil {
		t.Fatal("save of a missing image left a file")
	}

	// berth save | berth load on a fresh daemon, then run it.
	d2 := StartDaemon(t)
	out := must(t, d.Berth("save", "busybox")).Stdout
	if out != string(data) {
		t.Errorf("save to stdout differs from save -o (%d vs %d bytes)", len(out), len(data))
	}
	r = must(t, d2.BerthIn(out, "load"))
	if strings.TrimSpace(r.Stdout) != "Loaded image: busybox:latest" {
		t.Fatalf("load output: %q", r.Stdout)
	}
	if got := strings.TrimSpace(must(t, d2.Berth("image", "inspect", "-f", "{{.Id}}", "busybox")).Stdout); got != id {
		t.Fatalf("loaded image ID %s, saved %s", got, id)
	}
	if r := must(t, d2.Berth("run", "--rm", "busybox", "echo", "loaded")); strings.TrimSpace(r.Stdout) != "loaded" {
		t.Fatalf("run of the loaded image: %s", r)
	}
	// Loading again is idempotent; an untagged save loads by ID; -q still reports.
	must(t, d2.Berth("load", "-i", file))
	idFile := filepath.Join(t.TempDir(), "byid.tar")
	must(t, d.Berth("save", "-o", idFile, id[7:19]))
	d3 := StartDaemon(t)
	r = must(t, d3.Berth("load", "-q", "-i", idFile))
	if strings.TrimSpace(r.Stdout) != "Loaded image ID: "+id {
		t.Fatalf("load of an untagged save: %q", r.Stdout)
	}
	// The docker CLI speaks the same API.
	r = must(t, d3.Docker("load", "-i", file))
	if !strings.Contains(r.Stdout, "Loaded image: busybox:latest") {
		t.Fatalf("docker load: %s", r)
	}
	dfile := filepath.Join(t.TempDir(), "docker.tar")
	must(t, d3.Docker("save", "-o", dfile, "busybox:latest"))
	if b, _ := os.ReadFile(dfile); !bytes.Equal(b, data) {
		t.Errorf("docker save through berthd differs from berth save")
	}
}

func TestImageImport(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("run", "--name", "src", "busybox", "sh", "-c", "echo payload > /marker"))
	exp := must(t, d.Berth("export", "src")).Stdout
	r := must(t, d.BerthIn(exp, "import", "-c", `CMD ["cat", "/marker"]`, "-c", "ENV FOO=bar", "-m", "from export", "-", "imported:v1"))
	id := strings.TrimSpace(r.Stdout)
	if !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("import output: %q", r.Stdout)
	}
	if r := must(t, d.Berth("run", "--rm", "imported:v1")); strings.TrimSpace(r.Stdout) != "payload" {
		t.Fatalf("run of the imported image: %s", r)
	}
	insp := must(t, d.Berth("image", "inspect", "-f", "{{.Id}} {{.Comment}} {{.Config.Env}} {{len .RootFS.Layers}} {{.Os}}/{{.Architecture}}", "imported:v1")).Stdout
	if want := id + " from export [FOO=bar] 1 linux/"; !strings.HasPrefix(insp, want) {
		t.Fatalf("inspect: %q, want prefix %q", insp, want)
	}
	// A file argument, no reference: untagged, default comment.
	tarFile := filepath.Join(t.TempDir(), "rootfs.tar")
	os.WriteFile(tarFile, []byte(exp), 0o644)
	id2 := strings.TrimSpace(must(t, d.Berth("import", tarFile)).Stdout)
	if c := strings.TrimSpace(must(t, d.Berth("image", "inspect", "-f", "{{.Comment}}", id2)).Stdout); c != "Imported from -" {
		t.Fatalf("comment of an import: %q", c)
	}
	// A URL on loopback.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/rootfs.tar" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(exp))
	})}
	go srv.Serve(ln)
	defer srv.Close()
	u := "http://" + ln.Addr().String()
	must(t, d.Berth("import", "-c", "CMD cat /marker", u+"/rootfs.tar", "fromurl"))
	if r := must(t, d.Berth("run", "--rm", "fromurl")); strings.TrimSpace(r.Stdout) != "payload" {
		t.Fatalf("run of the image imported from a URL: %s", r)
	}
	if c := strings.TrimSpace(must(t, d.Berth("image", "inspect", "-f", "{{.Comment}}", "fromurl")).Stdout); c != "Imported from "+u+"/rootfs.tar" {
		t.Fatalf("comment of a URL import: %q", c)
	}
	// Bad input.
	if r := d.Berth("import", u+"/missing.tar", "x"); r.Code == 0 || !strings.Contains(r.Stderr, "404") {
		t.Fatalf("import of a missing URL: %s", r)
	}
	if r := d.BerthIn(exp, "import", "-c", "FROB x", "-", "x"); r.Code == 0 || !strings.Contains(r.Stderr, "frob is not a valid change command") {
		t.Fatalf("import with a bad change: %s", r)
	}
	if r := d.BerthIn("this is not a tarball, only some text", "import", "-", "x"); r.Code == 0 || !strings.Contains(r.Stderr, "invalid tarball") {
		t.Fatalf("import of garbage: %s", r)
	}
	if r := d.Berth("images", "-q", "x"); strings.TrimSpace(r.Stdout) != "" {
		t.Fatalf("a failed import left an image: %s", r)
	}
	// The docker CLI too.
	r = must(t, d.Docker("import", "-c", "CMD cat /marker", tarFile, "viadocker"))
	if r := must(t, d.Berth("run", "--rm", "viadocker")); strings.TrimSpace(r.Stdout) != "payload" {
		t.Fatalf("run of the image imported by docker: %s", r)
	}
}

// badArchive builds a docker-archive tar from files and a manifest.json.
func badArchive(t *testing.T, files map[string][]byte, manifest string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg})
		tw.Write(files[n])
	}
	if manifest != "" {
		tw.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o644, Size: int64(len(manifest)), Typeflag: tar.TypeReg})
		tw.Write([]byte(manifest))
	}
	tw.Close()
	return buf.String()
}

func blobCount(t *testing.T, d *Daemon) int {
	ents, err := os.ReadDir(filepath.Join(d.DataRoot, "content", "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func snapCount(t *testing.T, d *Daemon) int {
	ents, err := os.ReadDir(filepath.Join(d.DataRoot, "snapshots", "overlay"))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestImageLoadBadInput(t *testing.T) {
	d := StartDaemon(t)
	// A real layer and config, to be broken in different ways.
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	tw.WriteHeader(&tar.Header{Name: "hello", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
	tw.Write([]byte("hi"))
	tw.Close()
	lsum := sha256.Sum256(layer.Bytes())
	lhex := hex.EncodeToString(lsum[:])
	config := fmt.Sprintf(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"config":{"Cmd":["/hello"]}}`, lhex)
	csum := sha256.Sum256([]byte(config))
	chex := hex.EncodeToString(csum[:])
	good := map[string][]byte{"blobs/sha256/" + chex: []byte(config), "blobs/sha256/" + lhex: layer.Bytes()}
	manifest := func(cfg, layer string) string {
		return fmt.Sprintf(`[{"Config":%q,"RepoTags":["bad:one"],"Layers":[%q]}]`, cfg, layer)
	}
	before, snapsBefore := blobCount(t, d), snapCount(t, d)
	corrupt := map[string][]byte{"blobs/sha256/" + chex: []byte(config), "blobs/sha256/" + lhex: []byte("not the layer")}
	wrongDiff := map[string][]byte{"blobs/sha256/" + lhex: layer.Bytes()}
	wcfg := strings.Replace(config, lhex, strings.Repeat("ab", 32), 1)
	wsum := sha256.Sum256([]byte(wcfg))
	wrongDiff["blobs/sha256/"+hex.EncodeToString(wsum[:])] = []byte(wcfg)
	cases := []struct {
		name, archive, want string
	}{
		{"traversal", badArchive(t, good, manifest("blobs/sha256/"+chex, "../../../etc/passwd")), "outside the archive"},
		{"absolute", badArchive(t, good, manifest("/etc/passwd", "blobs/sha256/"+lhex)), "outside the archive"},
		{"missing blob", badArchive(t, map[string][]byte{"blobs/sha256/" + chex: []byte(config)}, manifest("blobs/sha256/"+chex, "blobs/sha256/"+lhex)), "not found in the archive"},
		{"digest mismatch", badArchive(t, corrupt, manifest("blobs/sha256/"+chex, "blobs/sha256/"+lhex)), "digest mismatch"},
		{"diff ID mismatch", badArchive(t, wrongDiff, manifest("blobs/sha256/"+hex.EncodeToString(wsum[:]), "blobs/sha256/"+lhex)), "diff ID mismatch"},
		{"no manifest", badArchive(t, good, ""), "neither manifest.json nor index.json"},
		{"not a tar", strings.Repeat("garbage ", 200), "invalid image archive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := d.BerthIn(c.archive, "load")
			if r.Code == 0 || !strings.Contains(r.Stderr, c.want) || !strings.HasPrefix(r.Stderr, "Error response from daemon: invalid image archive") {
				t.Fatalf("load: %s", r)
			}
			if n := blobCount(t, d); n != before {
				t.Fatalf("a failed load left %d blobs behind", n-before)
			}
			if r := must(t, d.Berth("images", "-q")); strings.TrimSpace(r.Stdout) != "" {
				t.Fatalf("a failed load left an image: %s", r.Stdout)
			}
			if n := snapCount(t, d); n != snapsBefore {
				t.Fatalf("a failed load left %d snapshots", n-snapsBefore)
			}
		})
	}
	// The same archive with the right manifest loads and runs.
	r := must(t, d.BerthIn(badArchive(t, good, manifest("blobs/sha256/"+chex, "blobs/sha256/"+lhex)), "load"))
	if strings.TrimSpace(r.Stdout) != "Loaded image: bad:one" {
		t.Fatalf("load of the good archive: %s", r)
	}
}

func TestImageLoadOCIArchive(t *testing.T) {
	reg := fixtures.Ensure(t)
	skopeo, err := exec.LookPath("skopeo")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("skopeo not installed")
		}
		t.Skip("skopeo not installed")
	}
	d := StartDaemon(t)
	dir := t.TempDir()
	named, bare := filepath.Join(dir, "named.tar"), filepath.Join(dir, "bare.tar")
	for _, dst := range []string{"oci-archive:" + named + ":busybox:oci", "oci-archive:" + bare} {
		out, err := exec.Command(skopeo, "copy", "--quiet", "--src-tls-verify=false", "docker://"+reg+"/library/busybox:latest", dst).CombinedOutput()
		if err != nil {
			t.Fatalf("skopeo copy to %s: %v\n%s", dst, err, out)
		}
	}
	r := must(t, d.Berth("load", "-i", named))
	if strings.TrimSpace(r.Stdout) != "Loaded image: busybox:oci" {
		t.Fatalf("load of an OCI archive: %q", r.Stdout)
	}
	if r := must(t, d.Berth("run", "--rm", "busybox:oci", "echo", "oci")); strings.TrimSpace(r.Stdout) != "oci" {
		t.Fatalf("run: %s", r)
	}
	r = must(t, d.Berth("load", "-i", bare))
	if !strings.HasPrefix(strings.TrimSpace(r.Stdout), "Loaded image ID: sha256:") {
		t.Fatalf("load of an unnamed OCI archive: %q", r.Stdout)
	}
	// Berth's own saves are OCI layouts too: skopeo reads them.
	saved := filepath.Join(dir, "saved.tar")
	must(t, d.Berth("save", "-o", saved, "busybox:oci"))
	if out, err := exec.Command(skopeo, "inspect", "--config", "oci-archive:"+saved).CombinedOutput(); err != nil || !strings.Contains(string(out), `"diff_ids"`) {
		t.Fatalf("skopeo inspect of berth save: %v\n%s", err, out)
	}
}

// privateDockerd is Debian's dockerd with its own roots, socket and no networking
// changes on the host.
type privateDockerd struct {
	cmd  *exec.Cmd
	sock string
	root string
	exec string
}

// startDockerd starts a private dockerd, or skips (fails under CI=true) without one.
func startDockerd(t *testing.T) *privateDockerd {
	return startDockerdWith(t, "", "--iptables=false", "--ip-masq=false", "--bridge=none")
}

// startDockerdWith starts a private dockerd with flags, inside the network namespace at
// netns when not empty.
func startDockerdWith(t *testing.T, netns string, flags ...string) *privateDockerd {
	t.Helper()
	for _, bin := range []string{"dockerd", "containerd", "docker"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not installed (apt-get install docker.io)", bin)
			}
			t.Skipf("%s not installed", bin)
		}
	}
	var created []string
	for _, p := range []string{"/run/docker", "/run/containerd", "/etc/docker/key.json", "/var/lib/docker"} {
		if _, err := os.Stat(p); err != nil {
			created = append(created, p)
		}
	}
	p := &privateDockerd{root: "/var/lib/berth-test-dockerd", exec: fmt.Sprintf("/run/bt-dockerd-%d", os.Getpid())}
	os.RemoveAll(p.root)
	p.sock = filepath.Join(p.exec, "docker.sock")
	os.MkdirAll(p.exec, 0o700)
	log, err := os.Create(filepath.Join(p.exec, "dockerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"dockerd", "--data-root", p.root, "--exec-root", p.exec, "-H", "unix://" + p.sock,
		"--pidfile", filepath.Join(p.exec, "dockerd.pid")}, flags...)
	if netns != "" {
		args = append([]string{"nsenter", "--net=" + netns}, args...)
	}
	p.cmd = exec.Command(args[0], args[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = log, log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.docker(t, "rm", "-f", "berth-archive-test")
		p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(p.exec, "dockerd.log"))
			t.Logf("dockerd log:\n%s", b)
		}
		unmountUnder(p.root, p.exec)
		os.RemoveAll(p.root)
		os.RemoveAll(p.exec)
		// Host-wide paths dockerd made: removed unless another dockerd uses them.
		if !otherDockerd() {
			for _, c := range created {
				os.RemoveAll(c)
			}
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if r := p.docker(t, "version"); r.Code == 0 {
			return p
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(p.exec, "dockerd.log"))
			t.Fatalf("dockerd did not start:\n%s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// otherDockerd reports whether a dockerd or containerd not started by this test runs.
func otherDockerd() bool {
	comms, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, c := range comms {
		b, _ := os.ReadFile(c)
		if n := strings.TrimSpace(string(b)); n == "dockerd" || n == "containerd" {
			return true
		}
	}
	return false
}

func unmountUnder(dirs ...string) {
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	lines := strings.Split(string(mounts), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		f := strings.Fields(lines[i])
		if len(f) < 5 {
			continue
		}
		for _, d := range dirs {
			if strings.HasPrefix(f[4], d) {
				syscall.Unmount(f[4], syscall.MNT_DETACH)
			}
		}
	}
}

func (p *privateDockerd) docker(t *testing.T, args ...string) Result {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", append([]string{"-H", "unix://" + p.sock}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(p.exec, "config"), "DOCKER_CLI_HINTS=false")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Code = ee.ExitCode()
	} else if err != nil {
		r.Code, r.Stderr = -1, r.Stderr+err.Error()
	}
	return r
}

// dockerSaveFixture is busybox saved by real `docker save`, cached across runs.
const dockerSaveFixture = "/var/cache/berth-fixtures/docker-save-busybox.tar"

// TestImageArchiveDocker round-trips images between berthd and a real dockerd.
func TestImageArchiveDocker(t *testing.T) {
	reg := fixtures.Ensure(t)
	d := StartDaemon(t)
	dk := startDockerd(t)
	ref := reg + "/library/busybox:latest"
	must(t, dk.docker(t, "pull", "-q", ref))
	if _, err := os.Stat(dockerSaveFixture); err != nil {
		tmp := dockerSaveFixture + ".tmp"
		must(t, dk.docker(t, "save", "-o", tmp, ref))
		if err := os.Rename(tmp, dockerSaveFixture); err != nil {
			t.Fatal(err)
		}
	}
	// docker save -> berth load -> berth run.
	r := must(t, d.Berth("load", "-i", dockerSaveFixture))
	if strings.TrimSpace(r.Stdout) != "Loaded image: "+ref {
		t.Fatalf("berth load of docker save: %q", r.Stdout)
	}
	if r := must(t, d.Berth("run", "--rm", ref, "echo", "from docker")); strings.TrimSpace(r.Stdout) != "from docker" {
		t.Fatalf("run: %s", r)
	}
	dockerID := strings.TrimSpace(must(t, dk.docker(t, "image", "inspect", "-f", "{{.Id}}", ref)).Stdout)
	if got := strings.TrimSpace(must(t, d.Berth("image", "inspect", "-f", "{{.Id}}", ref)).Stdout); got != dockerID {
		t.Fatalf("image ID in berth %s, in docker %s", got, dockerID)
	}
	// berth save -> docker load -> docker run.
	must(t, d.Berth("pull", "-q", "busybox"))
	file := filepath.Join(t.TempDir(), "berth.tar")
	must(t, d.Berth("save", "-o", file, "busybox"))
	r = must(t, dk.docker(t, "load", "-i", file))
	if !strings.Contains(r.Stdout, "Loaded image: busybox:latest") {
		t.Fatalf("docker load of berth save: %s", r)
	}
	r = must(t, dk.docker(t, "run", "--name", "berth-archive-test", "--network", "none", "busybox", "echo", "from berth"))
	if strings.TrimSpace(r.Stdout) != "from berth" {
		t.Fatalf("docker run: %s", r)
	}
}
