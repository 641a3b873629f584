package image

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/berth-dev/berth/content"
	"github.com/berth-dev/berth/errdefs"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// putBlob stores raw in the content store and returns its descriptor.
func putBlob(t *testing.T, s *Store, raw []byte) ocispec.Descriptor {
	d := digest.FromBytes(raw)
	if err := content.Ingest(ctx, s.cs, d, int64(len(raw)), bytes.NewReader(raw)); err != nil && !errdefs.IsConflict(err) {
		t.Fatal(err)
	}
	return ocispec.Descriptor{Digest: d, Size: int64(len(raw))}
}

// storedImage makes an image whose config, layers, manifest and index are real blobs.
func storedImage(t *testing.T, s *Store, name string, layerBlobs ...[]byte) (*Image, ocispec.Descriptor) {
	cfg := putBlob(t, s, []byte(`{"config-of":"`+name+`"}`))
	m := ocispec.Manifest{Config: cfg}
	for _, l := range layerBlobs {
		m.Layers = append(m.Layers, putBlob(t, s, l))
	}
	raw, _ := json.Marshal(m)
	md := putBlob(t, s, raw)
	idxRaw, _ := json.Marshal(ocispec.Index{Manifests: []ocispec.Descriptor{md}})
	idx := putBlob(t, s, idxRaw)
	return &Image{ID: cfg.Digest.String(), Created: time.Unix(1, 0), ManifestDigest: md.Digest.String()}, idx
}

func TestRemoveFreesUnsharedBlobsAndLayers(t *testing.T) {
	s, sn := newStore(t)
	shared := []byte("shared layer blob")
	a, aIdx := storedImage(t, s, "a", shared, []byte("a's own layer"))
	a.ChainIDs = layers(t, sn, "base", "a")
	b, _ := storedImage(t, s, "b", shared)
	b.ChainIDs = layers(t, sn, "base")
	aDigest := named(t, "app@"+aIdx.Digest.String())
	if err := s.Put(ctx, a, named(t, "app:1"), aDigest); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, b, named(t, "other:1")); err != nil {
		t.Fatal(err)
	}
	img, err := s.Get(ctx, "app:1")
	if err != nil {
		t.Fatal(err)
	}
	blobs := s.Blobs(ctx, img)
	if len(blobs) != 5 { // config, 2 layers, manifest, index
		t.Fatalf("Blobs = %v", blobs)
	}
	// Untag the digest reference first, as rmi does: the index is still found.
	if _, err := s.Untag(ctx, aDigest); err != nil {
		t.Fatal(err)
	}
	img, _ = s.Get(ctx, a.ID)
	rm, err := s.Remove(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rm.Layers, []string{a.ChainIDs[1]}) {
		t.Errorf("removed layers %v, want only a's own %s", rm.Layers, a.ChainIDs[1])
	}
	if len(rm.Blobs) != 4 {
		t.Errorf("removed blobs %v, want config, own layer, manifest and index", rm.Blobs)
	}
	if slices.Contains(rm.Blobs, digest.FromBytes(shared).String()) || !s.cs.Exists(ctx, digest.FromBytes(shared)) {
		t.Error("a layer blob b uses was removed")
	}
	var want int64
	for d, n := range blobs {
		if d != digest.FromBytes(shared) {
			want += n
		}
	}
	if rm.Bytes != want { // test layers are empty: only blob bytes count
		t.Errorf("freed %d bytes, want %d", rm.Bytes, want)
	}
	if _, err := s.Remove(ctx, img); !errdefs.IsNotFound(err) {
		t.Errorf("second Remove: %v", err)
	}
	if got := s.LayerSize(ctx, "sha256:nosuch"); got != 0 {
		t.Errorf("LayerSize of a missing layer = %d", got)
	}
}

func TestOrphanLayersGoWithTheLastContainer(t *testing.T) {
	s, sn := newStore(t)
	a := &Image{ID: digest.FromString("a").String(), ChainIDs: layers(t, sn, "base", "a")}
	b := &Image{ID: digest.FromString("b").String(), ChainIDs: layers(t, sn, "base")}
	s.Put(ctx, a, named(t, "a"))
	s.Put(ctx, b, named(t, "b"))
	if _, err := s.PrepareRootfs(ctx, "ctr", a); err != nil {
		t.Fatal(err)
	}
	img, _ := s.Get(ctx, "a")
	rm, err := s.Remove(ctx, img)
	if err != nil || len(rm.Layers) != 0 {
		t.Fatalf("Remove under a container: %+v, %v", rm, err)
	}
	if err := s.RemoveRootfs(ctx, "ctr"); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Stat(ctx, a.ChainIDs[1]); !errdefs.IsNotFound(err) {
		t.Errorf("orphan layer kept: %v", err)
	}
	if _, err := sn.Stat(ctx, a.ChainIDs[0]); err != nil {
		t.Errorf("base layer b uses removed: %v", err)
	}
	// A container of a live image leaves the image's layers alone.
	if _, err := s.PrepareRootfs(ctx, "ctr2", b); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveRootfs(ctx, "ctr2"); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Stat(ctx, b.ChainIDs[0]); err != nil {
		t.Errorf("layer of a live image removed: %v", err)
	}
}
