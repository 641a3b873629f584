package image

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/content"
	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/metadata"
	"github.com/berth-dev/berth/snapshot"
	"github.com/berth-dev/berth/snapshot/overlay"
	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
)

var ctx = context.Background()

func newStore(t *testing.T) (*Store, snapshot.Snapshotter) {
	root := t.TempDir()
	db, err := metadata.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cs, err := content.NewStore(filepath.Join(root, "content"))
	if err != nil {
		t.Fatal(err)
	}
	sn, err := overlay.New(filepath.Join(root, "snapshots", "overlay"), db)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewStore(root, db, sn, cs)
	if err != nil {
		t.Fatal(err)
	}
	return s, sn
}

func named(t *testing.T, s string) reference.Named {
	n, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// layers commits snapshots for the diff IDs and returns their chain IDs.
func layers(t *testing.T, sn snapshot.Snapshotter, diffs ...string) []string {
	var ds []digest.Digest
	for _, d := range diffs {
		ds = append(ds, digest.FromString(d))
	}
	chains := ChainIDs(ds)
	for i, c := range chains {
		if _, err := sn.Stat(ctx, c); err == nil {
			continue
		}
		parent := ""
		if i > 0 {
			parent = chains[i-1]
		}
		if _, err := sn.Prepare(ctx, "x-"+c, parent); err != nil {
			t.Fatal(err)
		}
		if err := sn.Commit(ctx, c, "x-"+c); err != nil {
			t.Fatal(err)
		}
	}
	return chains
}

func TestGet(t *testing.T) {
	s, sn := newStore(t)
	id := digest.FromString("config").String()
	md := digest.FromString("manifest")
	img := &Image{ID: id, Created: time.Unix(1000, 0), Size: 42, ChainIDs: layers(t, sn, "a"), ManifestDigest: md.String()}
	img.Config.Config.Cmd = []string{"sh"}
	if err := s.Put(ctx, img, named(t, "busybox:latest"), named(t, "busybox@"+md.String()), named(t, "localhost:5000/team/app")); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"busybox", "busybox:latest", "docker.io/library/busybox:latest", "library/busybox", "busybox@" + md.String(),
		"busybox:latest@" + md.String(), "localhost:5000/team/app", "localhost:5000/team/app:latest", id, strings.TrimPrefix(id, "sha256:"), id[:12], id[7:8], id[7:19]} {
		got, err := s.Get(ctx, ref)
		if err != nil {
			t.Errorf("Get(%q): %v", ref, err)
			continue
		}
		if got.ID != id || got.Size != 42 || !slices.Equal(got.Config.Config.Cmd, []string{"sh"}) || !got.Created.Equal(img.Created) {
			t.Errorf("Get(%q) = %+v", ref, got)
		}
		if !slices.Equal(got.RepoTags, []string{"busybox:latest", "localhost:5000/team/app:latest"}) || !slices.Equal(got.RepoDigests, []string{"busybox@" + md.String()}) {
			t.Errorf("refs = %v %v", got.RepoTags, got.RepoDigests)
		}
	}
	for ref, msg := range map[string]string{
		"nosuch":      "No such image: nosuch:latest",
		"busybox:1.0": "No such image: busybox:1.0",
		"quay.io/x/y": "No such image: quay.io/x/y:latest",
		"busybox@" + digest.FromString("other").String(): "No such image: busybox@" + digest.FromString("other").String(),
		strings.Repeat("f", 64):                          "No such image: sha256:" + strings.Repeat("f", 64),
		"0123456789ab":                                   "No such image: 0123456789ab:latest",
	} {
		if _, err := s.Get(ctx, ref); !errdefs.IsNotFound(err) || err.Error() != msg {
			t.Errorf("Get(%q) = %v, want %q", ref, err, msg)
		}
	}
	for ref, msg := range map[string]string{
		"Busybox":   "invalid reference format: repository name (library/Busybox) must be lowercase",
		"bad::name": "invalid reference format",
		"":          "invalid reference format",
	} {
		if _, err := s.Get(ctx, ref); !errdefs.IsInvalidParameter(err) || err.Error() != msg {
			t.Errorf("Get(%q) = %v, want %q", ref, err, msg)
		}
	}
}

func TestListTagDelete(t *testing.T) {
	s, sn := newStore(t)
	a := &Image{ID: digest.FromString("a").String(), Created: time.Unix(1, 0), ChainIDs: layers(t, sn, "base", "a")}
	b := &Image{ID: digest.FromString("b").String(), Created: time.Unix(2, 0), ChainIDs: layers(t, sn, "base", "b")}
	s.Put(ctx, a, named(t, "app:1"))
	s.Put(ctx, b, named(t, "app:2"))
	// Moving a tag leaves the old image dangling, as Docker does.
	if err := s.Put(ctx, b, named(t, "app:1")); err != nil {
		t.Fatal(err)
	}
	imgs, err := s.List(ctx)
	if err != nil || len(imgs) != 2 || imgs[0].ID != b.ID || !slices.Equal(imgs[0].RepoTags, []string{"app:1", "app:2"}) || len(imgs[1].RepoTags) != 0 {
		t.Fatalf("List = %v, %v", imgs, err)
	}
	if err := s.Tag(ctx, a.ID[7:15], named(t, "other")); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, "other:latest"); got == nil || got.ID != a.ID {
		t.Errorf("Tag did not point other at a")
	}
	if id, err := s.Untag(ctx, named(t, "other")); err != nil || id != a.ID {
		t.Errorf("Untag = %s, %v", id, err)
	}
	if _, err := s.Untag(ctx, named(t, "other")); !errdefs.IsNotFound(err) {
		t.Errorf("second Untag: %v", err)
	}
	// A container on b keeps b's top layer while b is deleted.
	if _, err := s.PrepareRootfs(ctx, "ctr", b); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Stat(ctx, a.ChainIDs[1]); !errdefs.IsNotFound(err) {
		t.Errorf("a's own layer kept: %v", err)
	}
	if _, err := sn.Stat(ctx, a.ChainIDs[0]); err != nil {
		t.Errorf("shared base removed: %v", err)
	}
	if err := s.Delete(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "app:2"); !errdefs.IsNotFound(err) {
		t.Errorf("tag survived delete: %v", err)
	}
	if _, err := sn.Stat(ctx, b.ChainIDs[1]); err != nil {
		t.Errorf("layer under a container removed: %v", err)
	}
	if err := s.RemoveRootfs(ctx, "ctr"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveRootfs(ctx, "ctr"); err != nil {
		t.Errorf("RemoveRootfs is not idempotent: %v", err)
	}
	if err := s.Delete(ctx, b.ID); !errdefs.IsNotFound(err) {
		t.Errorf("second Delete: %v", err)
	}
}

func TestPrepareRootfs(t *testing.T) {
	s, sn := newStore(t)
	img := &Image{ID: digest.FromString("c").String(), ChainIDs: layers(t, sn, "one")}
	m, err := s.PrepareRootfs(ctx, "c1", img)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || m[0].Type != "overlay" {
		t.Errorf("single-layer rootfs mounts %+v, want overlay", m)
	}
	if _, err := s.PrepareRootfs(ctx, "c1", img); !errdefs.IsConflict(err) {
		t.Errorf("second PrepareRootfs: %v", err)
	}
	if info, err := sn.Stat(ctx, "c1"); err != nil || info.Parent != img.ChainIDs[0] || info.Kind != snapshot.KindActive {
		t.Errorf("Stat = %+v, %v", info, err)
	}
	if err := s.Put(ctx, &Image{ID: "nope"}); !errdefs.IsInvalidParameter(err) {
		t.Errorf("Put of a bad ID: %v", err)
	}
}
