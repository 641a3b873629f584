package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPullKilledHalfway kills berthd -9 while it downloads debian's 49 MB layer: no blob
// in the store may be corrupt, and the next pull completes.
func TestPullKilledHalfway(t *testing.T) {
	d := StartDaemon(t)
	pull := exec.Command(filepath.Join(binDir, "berth"), "pull", "debian:bookworm")
	pull.Env = append(os.Environ(), "BERTH_HOST=unix://"+d.Sock, "BERTH_NO_AUTOSTART=1")
	if err := pull.Start(); err != nil {
		t.Fatal(err)
	}
	ingest := filepath.Join(d.DataRoot, "content", "ingest")
	caught := false
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if entries, _ := os.ReadDir(ingest); len(entries) > 0 {
			if info, err := entries[0].Info(); err == nil && info.Size() > 0 {
				caught = true
				break
			}
		}
	}
	d.Kill()
	pull.Wait()
	if !caught {
		t.Fatal("never saw a partial download to interrupt")
	}
	verifyBlobs(t, filepath.Join(d.DataRoot, "content", "blobs", "sha256"))
	d.Start()
	r := must(t, d.Berth("pull", "debian:bookworm"))
	if !strings.Contains(r.Stdout, "Downloaded newer image for debian:bookworm") {
		t.Errorf("second pull: %s", r)
	}
	verifyBlobs(t, filepath.Join(d.DataRoot, "content", "blobs", "sha256"))
	if r := must(t, d.Berth("run", "--rm", "debian:bookworm", "ls", "/usr/bin/apt-get")); strings.TrimSpace(r.Stdout) != "/usr/bin/apt-get" {
		t.Errorf("debian rootfs incomplete: %s", r)
	}
}

func verifyBlobs(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		io.Copy(h, f)
		f.Close()
		if got := hex.EncodeToString(h.Sum(nil)); got != e.Name() {
			t.Errorf("corrupt blob %s (content hashes to %s)", e.Name(), got)
		}
	}
}

func TestPullAllTags(t *testing.T) {
	d := StartDaemon(t)
	r := must(t, d.Berth("pull", "-a", "127.0.0.1:5000/library/debian"))
	if !strings.Contains(r.Stdout, "Downloaded newer image for 127.0.0.1:5000/library/debian:bookworm") {
		t.Fatalf("pull -a: %s", r)
	}
	if r := d.Berth("pull", "-a", "127.0.0.1:5000/library/debian:bookworm"); r.Code == 0 {
		t.Errorf("pull -a with a tag must be refused: %s", r)
	}
	if r := d.Docker("pull", "-a", "busybox"); r.Code != 0 || !strings.Contains(r.Stdout, "busybox:latest") {
		t.Errorf("docker pull -a: %s", r)
	}
	imgs := must(t, d.Berth("images", "--format", "{{.Repository}}:{{.Tag}}")).Stdout
	for _, want := range []string{"127.0.0.1:5000/library/debian:bookworm", "busybox:latest"} {
		if !strings.Contains(imgs, want) {
			t.Errorf("images after pull -a lacks %s:\n%s", want, imgs)
		}
	}
}
