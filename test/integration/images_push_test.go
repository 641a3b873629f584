package integration

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// authRegistry starts Debian's docker-registry with htpasswd auth for user:pass on a
// free loopback port and returns its address; it is stopped when the test ends.
func authRegistry(t *testing.T, user, pass string) string {
	t.Helper()
	need := func(bin string) string {
		p, err := exec.LookPath(bin)
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not installed", bin)
			}
			t.Skipf("%s not installed", bin)
		}
		return p
	}
	regBin, htpasswd := need("docker-registry"), need("htpasswd")
	dir := t.TempDir()
	out, err := exec.Command(htpasswd, "-Bbn", user, pass).Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), out, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: %s/data
auth:
  htpasswd:
    realm: berth-test
    path: %s/htpasswd
http:
  addr: %s
`, dir, dir, addr)
	conf := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(regBin, "serve", conf)
	logf, _ := os.Create(filepath.Join(dir, "registry.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return addr
			}
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
	t.Fatalf("registry on %s did not come up:\n%s", addr, b)
	return ""
}

// nameImage gives the image src the name dst: with `berth tag`, or where that command
// does not exist yet, by committing a container of src.
func nameImage(t *testing.T, d *Daemon, src, dst string) {
	t.Helper()
	if r := d.Berth("tag", src, dst); r.Code == 0 {
		return
	} else if !strings.Contains(r.Stderr, "unknown command") {
		t.Fatalf("berth tag: %s", r)
	}
	t.Log("berth tag is not available: naming the image with berth commit")
	id := strings.TrimSpace(must(t, d.Berth("create", src)).Stdout)
	must(t, d.Berth("commit", id, dst))
	must(t, d.Berth("rm", id))
}

func TestLoginPushPullWithAuth(t *testing.T) {
	d := StartDaemon(t)
	reg := authRegistry(t, "alice", "s3cret")
	t.Setenv("BERTH_CONFIG", t.TempDir())
	t.Setenv("DOCKER_CONFIG", t.TempDir())

	r := d.BerthIn("wrong\n", "login", "-u", "alice", "--password-stdin", reg)
	if r.Code == 0 || !strings.Contains(r.Stderr, "401 Unauthorized") {
		t.Fatalf("login with a wrong password: %s", r)
	}
	// Pushing without credentials is refused.
	must(t, d.Berth("pull", "127.0.0.1:5000/library/busybox:latest"))
	target := reg + "/x/busybox"
	nameImage(t, d, "127.0.0.1:5000/library/busybox:latest", target+":latest")
	if r := d.Berth("push", target); r.Code == 0 || !strings.Contains(r.Stderr, "no basic auth credentials") {
		t.Fatalf("anonymous push: %s", r)
	}

	r = must(t, d.BerthIn("s3cret\n", "login", "-u", "alice", "--password-stdin", reg))
	if strings.TrimSpace(r.Stdout) != "Login Succeeded" {
		t.Fatalf("login: %s", r)
	}
	cfgPath := filepath.Join(os.Getenv("BERTH_CONFIG"), "config.json")
	if fi, err := os.Stat(cfgPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config.json: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(cfgPath); !strings.Contains(string(b), `"`+reg+`"`) || !strings.Contains(string(b), "YWxpY2U6czNjcmV0") {
		t.Fatalf("config.json = %s", b)
	}

	r = must(t, d.Berth("push", target))
	for _, want := range []string{"Using default tag: latest", "The push refers to repository [" + target + "]", "Pushed", "latest: digest: sha256:"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("push output lacks %q:\n%s", want, r.Stdout)
		}
	}
	r = must(t, d.Berth("push", target+":latest"))
	if strings.Contains(r.Stdout, "Pushed") || !strings.Contains(r.Stdout, "Layer already exists") {
		t.Errorf("second push:\n%s", r.Stdout)
	}
	// --all-tags pushes every local tag of the repository.
	nameImage(t, d, target+":latest", target+":v2")
	r = must(t, d.Berth("push", "--all-tags", target))
	if !strings.Contains(r.Stdout, "latest: digest: sha256:") || !strings.Contains(r.Stdout, "v2: digest: sha256:") {
		t.Errorf("push --all-tags:\n%s", r.Stdout)
	}
	// A second login reuses the stored credentials.
	r = must(t, d.Berth("login", reg))
	if !strings.Contains(r.Stdout, "Authenticating with existing credentials... [Username: alice]") || !strings.Contains(r.Stdout, "Login Succeeded") {
		t.Errorf("login with stored credentials: %s", r)
	}

	// Another repository of the same registry mounts the layers it shares.
	nameImage(t, d, target+":latest", reg+"/y/busybox:v1")
	r = must(t, d.Berth("push", reg+"/y/busybox:v1"))
	if !strings.Contains(r.Stdout, "Mounted from x/busybox") || strings.Contains(r.Stdout, "Pushed") {
		t.Errorf("push to another repository:\n%s", r.Stdout)
	}
	if r := must(t, d.Berth("push", "-q", target)); strings.TrimSpace(r.Stdout) != target+":latest" {
		t.Errorf("push -q: %q", r.Stdout)
	}

	// Pulling back: refused once logged out, fine after login.
	r = must(t, d.Berth("logout", reg))
	if !strings.Contains(r.Stdout, "Removing login credentials for "+reg) {
		t.Errorf("logout: %s", r)
	}
	if r := d.Berth("pull", target); r.Code == 0 || !strings.Contains(r.Stderr, "may require 'docker login'") {
		t.Errorf("pull after logout: %s", r)
	}
	must(t, d.BerthIn("s3cret", "login", "-u", "alice", "--password-stdin", reg))
	must(t, d.Berth("pull", target))

	// The docker CLI logs in and pushes through berthd too.
	if r := d.Docker("pull", target); r.Code == 0 {
		t.Errorf("docker pull without docker login succeeded: %s", r)
	}
	if r := d.Docker("login", "-u", "alice", "-p", "bad", reg); r.Code == 0 || !strings.Contains(r.Stderr, "401 Unauthorized") {
		t.Errorf("docker login with a wrong password succeeded: %s", r)
	}
	must(t, d.Docker("login", "-u", "alice", "-p", "s3cret", reg))
	must(t, d.Docker("pull", target))
	r = must(t, d.Docker("push", target))
	if !strings.Contains(r.Stdout, "Layer already exists") || !strings.Contains(r.Stdout, "latest: digest: sha256:") {
		t.Errorf("docker push:\n%s", r.Stdout)
	}
}

func TestPushMissingImage(t *testing.T) {
	d := StartDaemon(t)
	r := d.Berth("push", "127.0.0.1:5999/none/such")
	if r.Code == 0 || !strings.Contains(r.Stderr, "An image does not exist locally with the tag: 127.0.0.1:5999/none/such") {
		t.Errorf("push of a missing image: %s", r)
	}
}
