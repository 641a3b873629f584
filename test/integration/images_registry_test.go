package integration

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSearch searches the fixtures registry's catalog with berth and docker; Docker Hub
// is off limits under --no-docker-hub.
func TestSearch(t *testing.T) {
	d := StartDaemon(t)
	r := must(t, d.Berth("search", "127.0.0.1:5000/busybox"))
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "NAME DESCRIPTION STARS OFFICIAL" ||
		strings.Join(strings.Fields(lines[1]), " ") != "127.0.0.1:5000/library/busybox 0" {
		t.Errorf("search output:\n%s", r.Stdout)
	}
	r = must(t, d.Berth("search", "--format", "{{.Name}} {{.StarCount}}", "--limit", "1", "127.0.0.1:5000/"))
	if r.Stdout != "127.0.0.1:5000/library/busybox 0\n" {
		t.Errorf("formatted: %q", r.Stdout)
	}
	if r := d.Berth("search", "--filter", "is-official=true", "127.0.0.1:5000/debian"); r.Code != 0 || strings.Contains(r.Stdout, "debian") {
		t.Errorf("is-official filter: %s", r)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"search", "busybox"}, "searching Docker Hub is disabled"},
		{[]string{"search", "--limit", "101", "127.0.0.1:5000/busybox"}, "limit 101 is outside the range of [1, 100]"},
		{[]string{"search", "-f", "stars=a", "127.0.0.1:5000/busybox"}, "invalid filter 'stars=a'"},
	} {
		if r := d.Berth(tc.args...); r.Code == 0 || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("berth %v: %s", tc.args, r)
		}
	}
	r = must(t, d.Docker("search", "127.0.0.1:5000/busybox"))
	if !strings.Contains(r.Stdout, "127.0.0.1:5000/library/busybox") || !strings.HasPrefix(r.Stdout, "NAME") {
		t.Errorf("docker search:\n%s", r.Stdout)
	}
	if r := d.Docker("search", "busybox"); r.Code == 0 || !strings.Contains(r.Stderr, "--no-docker-hub") {
		t.Errorf("docker search busybox: %s", r)
	}
}

func inspectPlatform(t *testing.T, d *Daemon, ref string) string {
	t.Helper()
	r := must(t, d.Berth("image", "inspect", "--format", "{{.Os}}/{{.Architecture}}{{if .Variant}}/{{.Variant}}{{end}}", ref))
	return strings.TrimSpace(r.Stdout)
}

// TestPullPlatform pulls each platform of the busybox index.
func TestPullPlatform(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("pull", "--platform", "linux/arm64", "busybox"))
	if p := inspectPlatform(t, d, "busybox"); p != "linux/arm64" && p != "linux/arm64/v8" {
		t.Errorf("after pull --platform linux/arm64: %s", p)
	}
	must(t, d.Berth("pull", "busybox"))
	if p := inspectPlatform(t, d, "busybox"); p != "linux/amd64" {
		t.Errorf("after plain pull: %s", p)
	}
	if r := d.Berth("pull", "--platform", "linux/arm/v7", "busybox"); r.Code == 0 || !strings.Contains(r.Stderr, "no matching manifest for linux/arm/v7 in the manifest list entries") {
		t.Errorf("arm/v7: %s", r)
	}
	must(t, d.Docker("pull", "--platform", "linux/arm64", "busybox"))
	if p := inspectPlatform(t, d, "busybox"); p != "linux/arm64" && p != "linux/arm64/v8" {
		t.Errorf("after docker pull --platform linux/arm64: %s", p)
	}
}

// qemuAarch64 is the binfmt_misc registration of Debian's qemu-aarch64-static, with the
// F flag so that it works inside containers.
const qemuAarch64 = `:qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:F`

// binfmtAarch64 makes sure an aarch64 handler with the F flag is registered and returns
// its entry file; everything it changed is undone at cleanup.
func binfmtAarch64(t *testing.T) string {
	t.Helper()
	const dir = "/proc/sys/fs/binfmt_misc"
	if _, err := os.Stat("/usr/bin/qemu-aarch64-static"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("qemu-aarch64-static missing: apt-get install qemu-user-static")
		}
		t.Skip("qemu-aarch64-static missing: apt-get install qemu-user-static")
	}
	if _, err := os.Stat(filepath.Join(dir, "register")); errors.Is(err, fs.ErrNotExist) {
		if err := syscall.Mount("binfmt_misc", dir, "binfmt_misc", 0, ""); err != nil {
			t.Fatalf("mount binfmt_misc: %v", err)
		}
		t.Cleanup(func() {
			if err := syscall.Unmount(dir, 0); err != nil {
				t.Errorf("unmount binfmt_misc: %v", err)
			}
		})
	}
	entry := filepath.Join(dir, "qemu-aarch64")
	if data, err := os.ReadFile(entry); err == nil {
		if !strings.Contains(string(data), "flags: ") || !strings.Contains(strings.SplitN(strings.SplitAfter(string(data), "flags: ")[1], "\n", 2)[0], "F") {
			msg := fmt.Sprintf("a qemu-aarch64 handler without the F flag is registered; not touching it:\n%s", data)
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		if strings.HasPrefix(string(data), "disabled") {
			os.WriteFile(entry, []byte("1"), 0o644)
			t.Cleanup(func() { os.WriteFile(entry, []byte("0"), 0o644) })
		}
		return entry
	}
	if err := os.WriteFile(filepath.Join(dir, "register"), []byte(qemuAarch64), 0o200); err != nil {
		t.Fatalf("register qemu-aarch64: %v", err)
	}
	t.Cleanup(func() { os.WriteFile(entry, []byte("-1"), 0o644) })
	return entry
}

// TestRunForeignPlatform runs the arm64 busybox through qemu, and checks the refusal
// when no handler is enabled.
func TestRunForeignPlatform(t *testing.T) {
	d := StartDaemon(t)
	entry := binfmtAarch64(t)
	must(t, d.Berth("pull", "busybox"))
	// The amd64 image is present: --platform linux/arm64 must still pull and run arm64.
	r := must(t, d.Berth("run", "--rm", "--platform", "linux/arm64", "busybox", "uname", "-m"))
	if strings.TrimSpace(r.Stdout) != "aarch64" {
		t.Errorf("uname -m = %q; %s", r.Stdout, r)
	}
	if p := inspectPlatform(t, d, "busybox"); !strings.HasPrefix(p, "linux/arm64") {
		t.Errorf("busybox is now %s", p)
	}
	r = must(t, d.Docker("run", "--rm", "--platform", "linux/arm64", "busybox", "uname", "-m"))
	if strings.TrimSpace(r.Stdout) != "aarch64" {
		t.Errorf("docker run: uname -m = %q", r.Stdout)
	}

	// Disabled handler: a clear refusal, and no container is left.
	if err := os.WriteFile(entry, []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.WriteFile(entry, []byte("1"), 0o644)
	r = d.Berth("run", "--rm", "busybox", "uname", "-m")
	for _, want := range []string{"image platform (linux/arm64) does not match the host platform (linux/amd64)", "qemu-user-static"} {
		if r.Code == 0 || !strings.Contains(r.Stderr, want) {
			t.Errorf("without handler: want %q in %s", want, r)
		}
	}
	if ids := strings.TrimSpace(must(t, d.Berth("ps", "-aq")).Stdout); ids != "" {
		t.Errorf("containers left: %s", ids)
	}
}

// fixtureDigest is the digest the fixtures registry serves for library/NAME:TAG.
func fixtureDigest(t *testing.T, repo, tag string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, "http://127.0.0.1:5000/v2/"+repo+"/manifests/"+tag, nil)
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	d := resp.Header.Get("Docker-Content-Digest")
	if !strings.HasPrefix(d, "sha256:") {
		t.Fatalf("no digest for %s:%s (%s)", repo, tag, resp.Status)
	}
	return d
}

// TestDigestPinned pulls, runs and inspects name@digest and name:tag@digest refs.
func TestDigestPinned(t *testing.T) {
	d := StartDaemon(t)
	dg := fixtureDigest(t, "library/busybox", "latest")
	r := must(t, d.Berth("run", "--rm", "busybox@"+dg, "echo", "pinned"))
	if strings.TrimSpace(r.Stdout) != "pinned" || !strings.Contains(r.Stderr, "Unable to find image 'busybox@"+dg+"' locally") {
		t.Errorf("run by digest: %s", r)
	}
	r = must(t, d.Berth("image", "inspect", "--format", "{{json .RepoDigests}}", "busybox:latest@"+dg))
	if !strings.Contains(r.Stdout, "busybox@"+dg) {
		t.Errorf("RepoDigests: %s", r.Stdout)
	}
	must(t, d.Berth("pull", "busybox:latest@"+dg))
	if r := must(t, d.Berth("run", "--rm", "busybox:latest@"+dg, "echo", "tagged")); strings.TrimSpace(r.Stdout) != "tagged" {
		t.Errorf("run name:tag@digest: %s", r)
	}
	wrong := "sha256:" + strings.Repeat("0", 64)
	if r := d.Berth("pull", "busybox@"+wrong); r.Code == 0 || !strings.Contains(r.Stderr, "not found") {
		t.Errorf("unknown digest: %s", r)
	}
	// The docker CLI on a daemon that has nothing yet.
	d2 := StartDaemon(t)
	r = must(t, d2.Docker("run", "--rm", "busybox:latest@"+dg, "echo", "docker"))
	if strings.TrimSpace(r.Stdout) != "docker" {
		t.Errorf("docker run by digest: %s", r)
	}
}

// TestMirrorForAnyRegistry pulls example.invalid:5000 images through the fixtures
// registry configured as that host's mirror in daemon.json.
func TestMirrorForAnyRegistry(t *testing.T) {
	d := StartDaemon(t)
	d.Stop()
	cfg := `{"registry-mirrors": ["http://127.0.0.1:5000"], "insecure-registries": ["127.0.0.1:5000"],
		"registry-mirrors-by-host": {"example.invalid:5000": ["http://127.0.0.1:5000"]}}`
	if err := os.WriteFile(d.Config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	d.Start()
	r := must(t, d.Berth("pull", "example.invalid:5000/library/busybox"))
	if !strings.Contains(r.Stdout, "Downloaded newer image for example.invalid:5000/library/busybox:latest") {
		t.Errorf("pull: %s", r)
	}
	if r := must(t, d.Berth("run", "--rm", "example.invalid:5000/library/busybox", "echo", "mirrored")); strings.TrimSpace(r.Stdout) != "mirrored" {
		t.Errorf("run: %s", r)
	}
	r = must(t, d.Berth("search", "example.invalid:5000/busy"))
	if !strings.Contains(r.Stdout, "example.invalid:5000/library/busybox") {
		t.Errorf("search through the mirror: %s", r.Stdout)
	}
	// Other registries are not served by that mirror.
	if r := d.Berth("pull", "example.invalid:5001/library/busybox"); r.Code == 0 {
		t.Errorf("example.invalid:5001 pulled: %s", r)
	}

	// A bad mirror stops berthd at start with a clear message.
	bad := filepath.Join(t.TempDir(), "daemon.json")
	os.WriteFile(bad, []byte(`{"registry-mirrors-by-host": {"quay.io": ["ftp://mirror"]}}`), 0o644)
	execRoot := fmt.Sprintf("/run/bt-bad%d", time.Now().UnixNano()%1e6)
	defer os.RemoveAll(execRoot)
	out, err := exec.Command(filepath.Join(binDir, "berthd"), "--config-file", bad, "--data-root", t.TempDir(), "--exec-root", execRoot).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `registry-mirrors-by-host quay.io: invalid registry mirror "ftp://mirror"`) {
		t.Errorf("bad config: %v\n%s", err, out)
	}
}
