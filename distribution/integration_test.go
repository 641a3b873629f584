package distribution

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/berth-dev/berth/test/fixtures"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestPullFixtureBusybox pulls busybox through the fixture registry used as a Docker
// Hub mirror, as berthd does, for the host's platform and for arm64.
func TestPullFixtureBusybox(t *testing.T) {
	reg := fixtures.Ensure(t)
	e := newEnv(t)
	p := NewPuller(e.store, e.cs, e.sn, Options{Mirrors: []string{"http://" + reg}, NoHub: true})
	var rec recorder
	img, err := p.Pull(ctx, "busybox", nil, rec.add)
	if err != nil {
		t.Fatal(err)
	}
	st := rec.statuses()
	if st[0] != "latest: Pulling from library/busybox" || st[len(st)-1] != "Status: Downloaded newer image for busybox:latest" {
		t.Errorf("statuses = %q", st)
	}
	if !slices.Equal(img.RepoTags, []string{"busybox:latest"}) || len(img.RepoDigests) != 1 || img.Config.Architecture != "amd64" || img.Size == 0 {
		t.Errorf("image = %+v", img)
	}
	root := e.mountImage(t, img)
	fi, err := os.Stat(filepath.Join(root, "bin", "busybox"))
	if err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf("bin/busybox: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(root, "bin", "sh")); err != nil {
		t.Errorf("bin/sh: %v", err)
	}
	arm, err := p.Pull(ctx, "busybox", &ocispec.Platform{OS: "linux", Architecture: "arm64"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if arm.Config.Architecture != "arm64" || arm.ID == img.ID || !slices.Equal(arm.RepoDigests, img.RepoDigests) {
		t.Errorf("arm64 image = %+v", arm)
	}
}

// BenchmarkPullRegistry pulls $BERTH_BENCH_REF (e.g. 127.0.0.1:5001/library/big:latest,
// from a registry of your own) into fresh stores.
func BenchmarkPullRegistry(b *testing.B) {
	ref := os.Getenv("BERTH_BENCH_REF")
	if ref == "" {
		b.Skip("BERTH_BENCH_REF not set")
	}
	requireRoot(b)
	for b.Loop() {
		b.StopTimer()
		e := openEnv(b, b.TempDir())
		p := NewPuller(e.store, e.cs, e.sn, Options{})
		b.StartTimer()
		if _, err := p.Pull(ctx, ref, nil, nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		e.db.Close()
		b.StartTimer()
	}
}
