package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestVolumeNamedPersistsAcrossRemovalAndRestart(t *testing.T) {
	d := StartDaemon(t)
	if got := strings.TrimSpace(must(t, d.Berth("volume", "create", "--label", "team=a", "data1")).Stdout); got != "data1" {
		t.Fatalf("volume create printed %q", got)
	}
	must(t, d.Berth("run", "--name", "w1", "-v", "data1:/data", "busybox", "sh", "-c", "echo kept > /data/f"))
	must(t, d.Berth("rm", "w1"))
	if out := must(t, d.Berth("run", "--rm", "-v", "data1:/data", "busybox", "cat", "/data/f")).Stdout; out != "kept\n" {
		t.Fatalf("after the container's removal: %q", out)
	}
	d.Kill()
	d.Start()
	if out := must(t, d.Berth("run", "--rm", "-v", "data1:/srv", "busybox", "cat", "/srv/f")).Stdout; out != "kept\n" {
		t.Fatalf("after a berthd restart: %q", out)
	}
	// The data lives where docker keeps it.
	if b, err := os.ReadFile(filepath.Join(d.DataRoot, "volumes", "data1", "_data", "f")); err != nil || string(b) != "kept\n" {
		t.Fatalf("volume data on disk: %q %v", b, err)
	}
	ls := must(t, d.Berth("volume", "ls", "--filter", "label=team=a", "--format", "{{.Driver}} {{.Name}}")).Stdout
	if ls != "local data1\n" {
		t.Fatalf("volume ls: %q", ls)
	}
	var vols []map[string]any
	if err := json.Unmarshal([]byte(must(t, d.Berth("volume", "inspect", "data1")).Stdout), &vols); err != nil || len(vols) != 1 ||
		vols[0]["Mountpoint"] != filepath.Join(d.DataRoot, "volumes", "data1", "_data") || vols[0]["Driver"] != "local" {
		t.Fatalf("volume inspect: %v %v", vols, err)
	}

	// In use: refused with 409; unused: removed.
	must(t, d.Berth("create", "--name", "holder", "-v", "data1:/data", "busybox", "true"))
	if r := d.Berth("volume", "rm", "data1"); r.Code == 0 || !strings.Contains(r.Stderr, "volume is in use") {
		t.Fatalf("rm of a volume in use: %s", r)
	}
	if resp, body := d.api(t, "DELETE", "/volumes/data1", nil); resp.StatusCode != 409 {
		t.Fatalf("DELETE /volumes/data1 in use: %d %s", resp.StatusCode, body)
	}
	must(t, d.Berth("rm", "holder"))
	must(t, d.Berth("volume", "rm", "data1"))
	if _, err := os.Stat(filepath.Join(d.DataRoot, "volumes", "data1")); !os.IsNotExist(err) {
		t.Fatalf("volume directory left: %v", err)
	}
}

func TestVolumeCopyUpAnonymousAndInspect(t *testing.T) {
	d := StartDaemon(t)
	// An empty named volume gets the image's content at the mount path; nocopy does not.
	if out := must(t, d.Berth("run", "--rm", "-v", "etcvol:/etc", "busybox", "cat", "/etc/group")).Stdout; !strings.Contains(out, "root:x:0:") {
		t.Fatalf("copy-up: %q", out)
	}
	if out := must(t, d.Berth("run", "--rm", "-v", "etcvol:/x", "busybox", "ls", "/x")).Stdout; !strings.Contains(out, "group") {
		t.Fatalf("copied content does not persist: %q", out)
	}
	if out := must(t, d.Berth("run", "--rm", "-v", "empty:/etc:nocopy", "busybox", "ls", "-A", "/etc")).Stdout; strings.Contains(out, "group") {
		t.Fatalf("nocopy copied: %q", out)
	}

	// Anonymous: -v /path makes one; rm -v and --rm remove it, plain rm keeps it.
	before := volumeNames(t, d)
	must(t, d.Berth("run", "--name", "anon", "-v", "/scratch", "busybox", "sh", "-c", "echo x > /scratch/f"))
	added := newNames(before, volumeNames(t, d))
	if len(added) != 1 || len(added[0]) != 64 {
		t.Fatalf("anonymous volume: %v", added)
	}
	mounts := must(t, d.Berth("inspect", "-f", "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.Driver}} {{.RW}}{{end}}", "anon")).Stdout
	if strings.TrimSpace(mounts) != "volume "+added[0]+" /scratch local true" {
		t.Fatalf("inspect Mounts: %q", mounts)
	}
	must(t, d.Berth("rm", "-v", "anon"))
	if left := newNames(before, volumeNames(t, d)); len(left) != 0 {
		t.Fatalf("rm -v left %v", left)
	}
	must(t, d.Berth("run", "--rm", "-v", "/scratch", "-v", "keepme:/k", "busybox", "true"))
	if left := newNames(before, volumeNames(t, d)); len(left) != 1 || left[0] != "keepme" {
		t.Fatalf("--rm: volumes left %v, want only the named one", left)
	}
	must(t, d.Berth("run", "--name", "plain", "-v", "/scratch", "busybox", "true"))
	must(t, d.Berth("rm", "plain"))
	if left := newNames(before, volumeNames(t, d)); len(left) != 2 {
		t.Fatalf("plain rm removed the anonymous volume: %v", left)
	}
	// prune: anonymous unused ones; -a: all unused.
	must(t, d.BerthIn("", "volume", "prune", "-f"))
	if left := newNames(before, volumeNames(t, d)); len(left) != 1 || left[0] != "keepme" {
		t.Fatalf("prune left %v", left)
	}
	must(t, d.Berth("volume", "prune", "-f", "-a"))
	if left := volumeNames(t, d); len(left) != 0 {
		t.Fatalf("prune -a left %v", left)
	}
}

func volumeNames(t *testing.T, d *Daemon) []string {
	t.Helper()
	return strings.Fields(must(t, d.Berth("volume", "ls", "-q")).Stdout)
}

func newNames(before, after []string) []string {
	var out []string
	for _, n := range after {
		found := false
		for _, b := range before {
			found = found || b == n
		}
		if !found {
			out = append(out, n)
		}
	}
	return out
}

func TestVolumeBindMountsTmpfsAndVolumesFrom(t *testing.T) {
	d := StartDaemon(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "test_conf.yaml"), []byte("port: 5050\n"), 0o644)
	// The course's single-file override.
	out := must(t, d.Berth("run", "--rm", "-v", filepath.Join(dir, "test_conf.yaml")+":/app/conf.yaml", "busybox", "cat", "/app/conf.yaml")).Stdout
	if out != "port: 5050\n" {
		t.Fatalf("single-file bind: %q", out)
	}
	// rw binds write through; ro refuses writes.
	must(t, d.Berth("run", "--rm", "-v", dir+":/mnt", "busybox", "sh", "-c", "echo from-ctr > /mnt/out"))
	if b, _ := os.ReadFile(filepath.Join(dir, "out")); string(b) != "from-ctr\n" {
		t.Fatalf("rw bind: %q", b)
	}
	if r := d.Berth("run", "--rm", "-v", dir+":/mnt:ro", "busybox", "sh", "-c", "echo x > /mnt/no"); r.Code == 0 || !strings.Contains(r.Stderr, "Read-only file system") {
		t.Fatalf("ro bind: %s", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "no")); err == nil {
		t.Fatal("a read-only bind was written")
	}
	// -v creates a missing source directory; --mount refuses it.
	missing := filepath.Join(dir, "made-by-v")
	must(t, d.Berth("run", "--rm", "-v", missing+":/m", "busybox", "true"))
	if fi, err := os.Stat(missing); err != nil || !fi.IsDir() {
		t.Fatalf("-v did not create the source: %v", err)
	}
	r := d.Berth("run", "--rm", "--mount", "type=bind,source="+filepath.Join(dir, "nope")+",target=/m", "busybox", "true")
	if r.Code != 125 || !strings.Contains(r.Stderr, "bind source path does not exist: "+filepath.Join(dir, "nope")) {
		t.Fatalf("--mount with a missing source: %s", r)
	}
	// --mount volume and readonly, tmpfs with a size limit.
	must(t, d.Berth("run", "--rm", "--mount", "type=volume,source=mvol,target=/v", "busybox", "sh", "-c", "echo 1 > /v/one"))
	if r := d.Berth("run", "--rm", "--mount", "type=volume,source=mvol,target=/v,readonly", "busybox", "sh", "-c", "cat /v/one && echo 2 > /v/two"); r.Stdout != "1\n" || r.Code == 0 {
		t.Fatalf("readonly volume mount: %s", r)
	}
	r = d.Berth("run", "--rm", "--mount", "type=tmpfs,target=/t,tmpfs-size=1m", "busybox", "sh", "-c", "df -k /t | tail -1; dd if=/dev/zero of=/t/big bs=1k count=2048")
	if r.Code == 0 || !strings.Contains(r.Stderr, "No space left on device") || !strings.Contains(r.Stdout, " 1024 ") {
		t.Fatalf("tmpfs size limit: %s", r)
	}
	if out := must(t, d.Berth("run", "--rm", "--tmpfs", "/run:size=64m", "busybox", "sh", "-c", "df -k /run | tail -1")).Stdout; !strings.Contains(out, " 65536 ") {
		t.Fatalf("--tmpfs size: %q", out)
	}
	// --volumes-from takes the other container's volumes and binds.
	must(t, d.Berth("create", "--name", "src", "-v", "shared:/shared", "-v", dir+":/hostdir", "busybox", "true"))
	out = must(t, d.Berth("run", "--rm", "--volumes-from", "src:ro", "busybox", "sh", "-c", "cat /hostdir/out; touch /shared/x 2>&1 || true")).Stdout
	if !strings.Contains(out, "from-ctr") || !strings.Contains(out, "Read-only file system") {
		t.Fatalf("--volumes-from src:ro: %q", out)
	}
	// A local volume with mount options (tmpfs of 1 MB).
	must(t, d.Berth("volume", "create", "-d", "local", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m", "tvol"))
	if out := must(t, d.Berth("run", "--rm", "-v", "tvol:/tv", "busybox", "sh", "-c", "df -k /tv | tail -1")).Stdout; !strings.Contains(out, " 1024 ") {
		t.Fatalf("local volume with type=tmpfs: %q", out)
	}
}

func TestVolumeSymlinkInImageCannotReachHost(t *testing.T) {
	d := StartDaemon(t)
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "secret"), []byte("host secret\n"), 0o600)
	// An image whose /data is a symlink to the host directory's path.
	must(t, d.Berth("run", "--name", "evil", "busybox", "sh", "-c", "mkdir -p "+host+" && echo decoy > "+host+"/decoy && ln -s "+host+" /data"))
	must(t, d.Berth("commit", "evil", "evil:1"))
	out := must(t, d.Berth("run", "--rm", "-v", "trap:/data", "evil:1", "sh", "-c", "ls /data; echo planted > /data/planted")).Stdout
	if strings.Contains(out, "secret") {
		t.Fatalf("the volume shows the host directory: %q", out)
	}
	if entries, _ := os.ReadDir(host); len(entries) != 1 || entries[0].Name() != "secret" {
		t.Fatalf("the host directory was changed: %v", entries)
	}
	vol := filepath.Join(d.DataRoot, "volumes", "trap", "_data")
	if _, err := os.Stat(filepath.Join(vol, "secret")); err == nil {
		t.Fatal("the host's file was copied into the volume")
	}
	if b, err := os.ReadFile(filepath.Join(vol, "planted")); err != nil || string(b) != "planted\n" {
		t.Fatalf("the volume did not get the container's write: %q %v", b, err)
	}
}

func TestVolumeBadInput(t *testing.T) {
	d := StartDaemon(t)
	vols := must(t, d.Berth("volume", "ls", "-q")).Stdout
	ctrs := must(t, d.Berth("ps", "-aq")).Stdout
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"volume", "create", "-d", "nfsplugin", "v1"}, 1, `error looking up volume plugin nfsplugin: plugin "nfsplugin" not found`},
		{[]string{"volume", "create", "bad/name"}, 1, "includes invalid characters for a local volume name"},
		{[]string{"run", "--rm", "-v", "vol:relative/path", "busybox", "true"}, 125, "invalid mount path: 'relative/path' mount path must be absolute"},
		{[]string{"run", "--rm", "-v", "/a:/b:bogus", "busybox", "true"}, 125, "invalid mode: bogus"},
		{[]string{"run", "--rm", "--mount", "type=volume,source=v2,target=/x,volume-driver=nfsplugin", "busybox", "true"}, 125, `plugin "nfsplugin" not found`},
		{[]string{"run", "--rm", "-v", "v3:/x", "-v", "v4:/x", "busybox", "true"}, 125, "Duplicate mount point: /x"},
		{[]string{"volume", "rm", "nosuch"}, 1, "no such volume"},
	}
	for _, c := range cases {
		r := d.Berth(c.args...)
		if r.Code != c.code || !strings.Contains(r.Stderr, c.msg) {
			t.Errorf("berth %s: want exit %d and %q, got %s", strings.Join(c.args, " "), c.code, c.msg, r)
		}
	}
	if got := must(t, d.Berth("volume", "ls", "-q")).Stdout; got != vols {
		t.Errorf("volumes changed by bad input: %q, want %q", got, vols)
	}
	if got := must(t, d.Berth("ps", "-aq")).Stdout; got != ctrs {
		t.Errorf("containers left by bad input: %q", got)
	}
}

func TestVolumeDockerCLI(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Docker("volume", "create", "dvol"))
	if ls := must(t, d.Docker("volume", "ls", "--format", "{{.Name}}")).Stdout; ls != "dvol\n" {
		t.Fatalf("docker volume ls: %q", ls)
	}
	must(t, d.Docker("run", "--rm", "-v", "dvol:/d", "busybox", "sh", "-c", "echo via-docker > /d/f"))
	dir := t.TempDir()
	must(t, d.Docker("run", "--rm", "-v", "dvol:/d", "-v", dir+":/out", "busybox", "cp", "/d/f", "/out/f"))
	if b, _ := os.ReadFile(filepath.Join(dir, "f")); string(b) != "via-docker\n" {
		t.Fatalf("docker run -v: %q", b)
	}
	must(t, d.Docker("volume", "rm", "dvol"))
	if ls := must(t, d.Docker("volume", "ls", "-q")).Stdout; ls != "" {
		t.Fatalf("after docker volume rm: %q", ls)
	}
}

func TestVolumeImageVolumeAndRelativeBind(t *testing.T) {
	d := StartDaemon(t)
	// A VOLUME in the image gives each container an anonymous volume with the image's content.
	must(t, d.Berth("run", "--name", "base", "busybox", "sh", "-c", "mkdir /seed && echo seeded > /seed/f"))
	must(t, d.Berth("commit", "--change", "VOLUME /seed", "base", "withvol:1"))
	before := volumeNames(t, d)
	must(t, d.Berth("run", "--name", "user1", "withvol:1", "sh", "-c", "cat /seed/f && echo more >> /seed/f"))
	added := newNames(before, volumeNames(t, d))
	if len(added) != 1 {
		t.Fatalf("VOLUME made %v", added)
	}
	if b, _ := os.ReadFile(filepath.Join(d.DataRoot, "volumes", added[0], "_data", "f")); string(b) != "seeded\nmore\n" {
		t.Fatalf("image VOLUME content: %q", b)
	}
	must(t, d.Berth("rm", "-v", "user1"))

	// The CLI makes a relative bind source absolute against its working directory.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "rel.txt"), []byte("relative\n"), 0o644)
	cmd := exec.Command(filepath.Join(binDir, "berth"), "run", "--rm", "-v", "./rel.txt:/r.txt", "busybox", "cat", "/r.txt")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BERTH_HOST=unix://"+d.Sock, "BERTH_NO_AUTOSTART=1")
	if out, err := cmd.CombinedOutput(); err != nil || string(out) != "relative\n" {
		t.Fatalf("-v ./rel.txt from %s: %v %q", dir, err, out)
	}
}
