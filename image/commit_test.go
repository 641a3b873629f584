package image

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/berth-dev/berth/content"
	"github.com/berth-dev/berth/snapshot"
	"github.com/distribution/reference"
	"github.com/klauspost/compress/gzip"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

func tarLayer(files map[string]string) func(io.Writer) error {
	return func(w io.Writer) error {
		tw := tar.NewWriter(w)
		for _, name := range []string{"a", ".wh.a", "b"} {
			body, ok := files[name]
			if !ok {
				continue
			}
			h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(1700000000, 0)}
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			tw.Write([]byte(body))
		}
		return tw.Close()
	}
}

func TestCommit(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("test needs root")
		}
		t.Skip("test needs root")
	}
	s, sn := newStore(t)
	base, err := s.Commit(ctx, CommitOptions{
		Config: dockerspec.DockerOCIImageConfig{ImageConfig: ocispec.ImageConfig{Cmd: []string{"sh"}}}, CreatedBy: "base", Layer: tarLayer(map[string]string{"a": "A"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Commit(ctx, CommitOptions{
		Parent: base, Config: dockerspec.DockerOCIImageConfig{ImageConfig: ocispec.ImageConfig{Cmd: []string{"cat", "/b"}}}, Author: "me", Comment: "why", CreatedBy: "sh -c x",
		Layer: tarLayer(map[string]string{".wh.a": "", "b": "B"}), Refs: []reference.Named{named(t, "committed:v1")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(img.ChainIDs) != 2 || img.ChainIDs[0] != base.ChainIDs[0] || len(img.Config.RootFS.DiffIDs) != 2 {
		t.Fatalf("layers: chains %v diffs %v", img.ChainIDs, img.Config.RootFS.DiffIDs)
	}
	if len(img.RepoTags) != 1 || img.RepoTags[0] != "committed:v1" {
		t.Errorf("RepoTags %v", img.RepoTags)
	}
	h := img.Config.History
	if len(h) != 2 || h[1].CreatedBy != "sh -c x" || h[1].Author != "me" || h[1].Comment != "why" || h[1].EmptyLayer {
		t.Errorf("history %+v", h)
	}
	if img.Config.Author != "me" || img.Config.Config.Cmd[0] != "cat" {
		t.Errorf("config %+v", img.Config)
	}
	// The config blob is the image ID.
	raw, err := content.ReadBlob(ctx, s.cs, digest.Digest(img.ID))
	if err != nil || digest.FromBytes(raw).String() != img.ID {
		t.Fatalf("config blob: %v", err)
	}
	// The manifest names the stored gzip blob whose content is the DiffID's tar.
	var m manifest
	mraw, err := content.ReadBlob(ctx, s.cs, digest.Digest(img.ManifestDigest))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(mraw, &m)
	if len(m.Layers) != 2 || m.Config.Digest.String() != img.ID {
		t.Fatalf("manifest %s", mraw)
	}
	blob, err := s.cs.Open(ctx, m.Layers[1].Digest)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(blob)
	if err != nil {
		t.Fatal(err)
	}
	var tb bytes.Buffer
	io.Copy(&tb, zr)
	blob.Close()
	if digest.FromBytes(tb.Bytes()) != img.Config.RootFS.DiffIDs[1] {
		t.Error("layer blob does not decompress to its DiffID")
	}
	// The committed snapshot holds the layer in overlay form, on its parent.
	info, err := sn.Stat(ctx, img.ChainIDs[1])
	if err != nil || info.Kind != snapshot.KindCommitted || info.Parent != base.ChainIDs[0] {
		t.Fatalf("snapshot %+v, %v", info, err)
	}
	if info.Labels[snapshot.LabelSize] != strconv.FormatInt(int64(tb.Len()), 10) {
		t.Errorf("size label %v, want %d", info.Labels, tb.Len())
	}
	mounts, err := sn.Mounts(ctx, img.ChainIDs[1])
	if err != nil {
		t.Fatal(err)
	}
	h2, err := snapshot.MountPrivate(t.TempDir(), mounts)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	root := filepath.Join("/proc/self/fd", strconv.Itoa(int(h2.Fd())))
	if b, _ := os.ReadFile(filepath.Join(root, "b")); string(b) != "B" {
		t.Errorf("b = %q", b)
	}
	if _, err := os.Lstat(filepath.Join(root, "a")); err == nil {
		t.Error("a not deleted in the committed image")
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(snapDir(t, mounts), "a"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
		t.Errorf("no overlay whiteout for a: %v", err)
	}
	// A temporary snapshot is not left behind.
	sn.Walk(ctx, func(i snapshot.Info) error {
		if i.Kind != snapshot.KindCommitted {
			t.Errorf("snapshot %s left %s", i.Key, i.Kind)
		}
		return nil
	})

	// An empty layer adds history only.
	empty, err := s.Commit(ctx, CommitOptions{Parent: img, Config: img.Config.Config, CreatedBy: "nothing", Layer: tarLayer(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if len(empty.ChainIDs) != 2 || len(empty.Config.History) != 3 || !empty.Config.History[2].EmptyLayer || empty.ID == img.ID {
		t.Errorf("empty commit: chains %v history %+v", empty.ChainIDs, empty.Config.History)
	}
	meta, err := s.Commit(ctx, CommitOptions{Parent: empty, Config: dockerspec.DockerOCIImageConfig{ImageConfig: ocispec.ImageConfig{Env: []string{"A=1"}}}, CreatedBy: "ENV A=1"})
	if err != nil || len(meta.ChainIDs) != 2 || len(meta.Config.History) != 4 || !meta.Config.History[3].EmptyLayer || meta.Config.Config.Env[0] != "A=1" {
		t.Errorf("commit without a layer: %+v %v", meta, err)
	}
}

// snapDir is the top (own) layer directory of a committed snapshot's mounts.
func snapDir(t *testing.T, m []snapshot.Mount) string {
	if l := snapshot.LowerDirs(m); len(l) > 0 {
		return l[0]
	}
	t.Fatalf("no lower dirs in %+v", m)
	return ""
}

// A commit that names its layer's digest reuses a stored identical layer: Layer is not
// called; an unknown digest, or a layer stored without its blob, is written as usual.
func TestCommitReusesStoredLayer(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("test needs root")
		}
		t.Skip("test needs root")
	}
	s, _ := newStore(t)
	layer := tarLayer(map[string]string{"a": "A"})
	var tb bytes.Buffer
	layer(&tb)
	diffID := digest.FromBytes(tb.Bytes())
	first, err := s.Commit(ctx, CommitOptions{CreatedBy: "one", Layer: layer, LayerDiffID: diffID})
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	counted := func(w io.Writer) error { calls++; return layer(w) }
	again, err := s.Commit(ctx, CommitOptions{CreatedBy: "two", Layer: counted, LayerDiffID: diffID})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 0 || len(again.ChainIDs) != 1 || again.ChainIDs[0] != first.ChainIDs[0] || again.Size != first.Size {
		t.Fatalf("stored layer not reused: %d calls, chains %v / %v, sizes %d / %d", calls, again.ChainIDs, first.ChainIDs, again.Size, first.Size)
	}
	var m1, m2 manifest
	r1, _ := content.ReadBlob(ctx, s.cs, digest.Digest(first.ManifestDigest))
	r2, _ := content.ReadBlob(ctx, s.cs, digest.Digest(again.ManifestDigest))
	json.Unmarshal(r1, &m1)
	json.Unmarshal(r2, &m2)
	if len(m2.Layers) != 1 || m2.Layers[0].Digest != m1.Layers[0].Digest || m2.Layers[0].Size != m1.Layers[0].Size {
		t.Fatalf("manifest layers %+v, want %+v", m2.Layers, m1.Layers)
	}
	if _, err := s.Commit(ctx, CommitOptions{CreatedBy: "three", Layer: counted, LayerDiffID: digest.FromString("other")}); err != nil || calls != 1 {
		t.Fatalf("a digest the store does not have: %d calls, %v", calls, err)
	}
}
