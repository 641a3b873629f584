package image

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"

	"github.com/berth-dev/berth/content"
	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/snapshot"
	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Removal reports what Remove deleted.
type Removal struct {
	Layers []string // chain IDs of the removed layer snapshots, top first
	Blobs  []string // digests of the removed content-store blobs
	Bytes  int64    // disk bytes freed: unpacked layers plus blobs
}

// LayerSize returns the unpacked size of the committed layer snapshot chain (0 if absent).
func (s *Store) LayerSize(ctx context.Context, chain string) int64 {
	info, err := s.sn.Stat(ctx, chain)
	if err != nil {
		return 0
	}
	if n, err := strconv.ParseInt(info.Labels[snapshot.LabelSize], 10, 64); err == nil {
		return n
	}
	n, _ := s.sn.Usage(ctx, chain)
	return n
}

// Blobs returns the stored blobs img is made of, with their sizes: its manifest, config
// and compressed layers, and the indexes its repository digests name.
func (s *Store) Blobs(ctx context.Context, img *Image) map[digest.Digest]int64 {
	out := map[digest.Digest]int64{}
	add := func(d digest.Digest) {
		if _, seen := out[d]; seen || d.Validate() != nil {
			return
		}
		if info, err := s.cs.Info(ctx, d); err == nil {
			out[d] = info.Size
		}
	}
	add(digest.Digest(img.ID))
	if img.ManifestDigest != "" {
		md := digest.Digest(img.ManifestDigest)
		add(md)
		if raw, err := content.ReadBlob(ctx, s.cs, md); err == nil {
			var m ocispec.Manifest
			if json.Unmarshal(raw, &m) == nil {
				add(m.Config.Digest)
				for _, l := range m.Layers {
					add(l.Digest)
				}
			}
		}
	}
	for _, rd := range img.RepoDigests {
		if ref, err := reference.ParseNormalizedNamed(rd); err == nil {
			if c, ok := ref.(reference.Canonical); ok {
				add(c.Digest())
			}
		}
	}
	return out
}

// dropOrphanLayers removes the committed layer chain and its ancestors while no image
// uses them and nothing is stacked on them: the layers of an image deleted while a
// container still used it (rmi -f) go with that container.
func (s *Store) dropOrphanLayers(ctx context.Context, chain string) {
	if chain == "" {
		return
	}
	imgs, err := s.List(ctx)
	if err != nil {
		return
	}
	for _, img := range imgs {
		if slices.Contains(img.ChainIDs, chain) {
			return // the common case: the container's image is still there
		}
	}
	used := map[string]bool{}
	for _, img := range imgs {
		for _, c := range img.ChainIDs {
			used[c] = true
		}
	}
	for chain != "" && !used[chain] {
		info, err := s.sn.Stat(ctx, chain)
		if err != nil || info.Kind != snapshot.KindCommitted {
			return
		}
		if err := s.sn.Remove(ctx, chain); err != nil {
			return // still the parent of another snapshot
		}
		chain = info.Parent
	}
}

// indexMax bounds the blobs Remove reads when looking for indexes: manifests and
// indexes are small, layers are not.
const indexMax = 4 << 20

// Remove deletes the image img (as Get returned it, before any untagging, so that its
// repository digests name the indexes it came from) like Delete, then the blobs no
// remaining image uses, including unreferenced indexes listing its manifest, and reports
// the layers and blobs it freed.
func (s *Store) Remove(ctx context.Context, img *Image) (*Removal, error) {
	blobs := s.Blobs(ctx, img)
	sizes := make(map[string]int64, len(img.ChainIDs))
	for _, c := range img.ChainIDs {
		if _, err := s.sn.Stat(ctx, c); err == nil {
			sizes[c] = s.LayerSize(ctx, c)
		}
	}
	if err := s.Delete(ctx, img.ID); err != nil {
		return nil, err
	}
	rm := &Removal{}
	for i := len(img.ChainIDs) - 1; i >= 0; i-- {
		c := img.ChainIDs[i]
		size, had := sizes[c]
		if _, err := s.sn.Stat(ctx, c); had && errdefs.IsNotFound(err) {
			rm.Layers = append(rm.Layers, c)
			rm.Bytes += size
		}
	}
	others, err := s.List(ctx)
	if err != nil {
		return rm, err
	}
	kept := map[digest.Digest]bool{}
	for _, o := range others {
		for d := range s.Blobs(ctx, o) {
			kept[d] = true
		}
	}
	if img.ManifestDigest != "" {
		// Indexes whose references were untagged earlier still list the manifest.
		err := s.cs.Walk(ctx, func(info content.Info) error {
			if _, mine := blobs[info.Digest]; mine || kept[info.Digest] || info.Size > indexMax {
				return nil
			}
			raw, err := content.ReadBlob(ctx, s.cs, info.Digest)
			if err != nil {
				return nil
			}
			var idx ocispec.Index
			if json.Unmarshal(raw, &idx) != nil || len(idx.Manifests) == 0 {
				return nil
			}
			for _, m := range idx.Manifests {
				if m.Digest.String() == img.ManifestDigest {
					blobs[info.Digest] = info.Size
					break
				}
			}
			return nil
		})
		if err != nil {
			return rm, err
		}
	}
	for d, size := range blobs {
		if kept[d] {
			continue
		}
		if err := s.cs.Delete(ctx, d); err != nil {
			if errdefs.IsNotFound(err) {
				continue
			}
			return rm, err
		}
		rm.Blobs = append(rm.Blobs, d.String())
		rm.Bytes += size
	}
	return rm, nil
}
