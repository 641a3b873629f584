package archive

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/berth-dev/berth/content"
	"github.com/berth-dev/berth/errdefs"
	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Annotation naming an image in an OCI index (containerd's and docker's).
const annotationImageName = "io.containerd.image.name"

// SaveImage is one image to write: its platform manifest and the tags to record.
type SaveImage struct {
	Manifest digest.Digest           // a manifest blob in the content store
	Tags     []reference.NamedTagged // may be empty: saved by ID
}

// manifest is the part of an OCI or Docker v2 schema 2 manifest the archive needs.
type manifest struct {
	SchemaVersion int                  `json:"schemaVersion"`
	MediaType     string               `json:"mediaType,omitempty"`
	Config        ocispec.Descriptor   `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
}

// dockerEntry is one image of manifest.json.
type dockerEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

func blobPath(d digest.Digest) string { return "blobs/" + d.Algorithm().String() + "/" + d.Encoded() }

// Plan is a set of images checked for saving: manifests read, every blob present.
type Plan struct {
	p    content.Provider
	imgs []planned
}

type planned struct {
	SaveImage
	raw []byte
	m   manifest
}

// Prepare reads the manifests of imgs from p and checks that every blob they name is
// stored, so that a save fails before it writes anything.
func Prepare(ctx context.Context, p content.Provider, imgs []SaveImage) (*Plan, error) {
	pl := &Plan{p: p}
	for _, img := range imgs {
		raw, err := content.ReadBlob(ctx, p, img.Manifest)
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", img.Manifest, err)
		}
		var m manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("manifest %s: %w", img.Manifest, err)
		}
		for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
			ra, err := p.ReaderAt(ctx, d.Digest)
			if err != nil {
				return nil, errdefs.NotFound(fmt.Sprintf("image %s: blob %s is not stored (pull the image again)", m.Config.Digest, d.Digest))
			}
			ra.Close()
		}
		pl.imgs = append(pl.imgs, planned{SaveImage: img, raw: raw, m: m})
	}
	return pl, nil
}

// Write writes the images to w as one tar that is both a docker-archive and an OCI
// image layout; each blob is written once.
func (pl *Plan) Write(ctx context.Context, w io.Writer) error {
	p := pl.p
	tw := tar.NewWriter(w)
	mtime := time.Unix(0, 0)
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	written := map[digest.Digest]bool{}
	blob := func(d digest.Digest) error {
		if written[d] {
			return nil
		}
		ra, err := p.ReaderAt(ctx, d)
		if err != nil {
			return fmt.Errorf("blob %s: %w", d, err)
		}
		defer ra.Close()
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: blobPath(d), Mode: 0o444, Size: ra.Size(), ModTime: mtime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, io.NewSectionReader(ra, 0, ra.Size())); err != nil {
			return err
		}
		written[d] = true
		return ctx.Err()
	}
	var (
		entries []dockerEntry
		index   = ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}}
		repos   = map[string]map[string]string{}
	)
	index.SchemaVersion = 2
	for _, img := range pl.imgs {
		m, raw := img.m, img.raw
		e := dockerEntry{Config: blobPath(m.Config.Digest), Layers: make([]string, 0, len(m.Layers))}
		if err := blob(m.Config.Digest); err != nil {
			return err
		}
		for _, l := range m.Layers {
			if err := blob(l.Digest); err != nil {
				return err
			}
			e.Layers = append(e.Layers, blobPath(l.Digest))
		}
		if err := blob(img.Manifest); err != nil {
			return err
		}
		mt := m.MediaType
		if mt == "" {
			mt = ocispec.MediaTypeImageManifest
		}
		desc := ocispec.Descriptor{MediaType: mt, Digest: img.Manifest, Size: int64(len(raw))}
		if len(img.Tags) == 0 {
			index.Manifests = append(index.Manifests, desc)
		}
		for _, t := range img.Tags {
			d := desc
			d.Annotations = map[string]string{annotationImageName: t.String(), ocispec.AnnotationRefName: t.Tag()}
			index.Manifests = append(index.Manifests, d)
			e.RepoTags = append(e.RepoTags, reference.FamiliarString(t))
			name := reference.FamiliarName(t)
			if repos[name] == nil {
				repos[name] = map[string]string{}
			}
			repos[name][t.Tag()] = m.Config.Digest.Encoded()
		}
		entries = append(entries, e)
	}
	files := []struct {
		name string
		v    any
	}{
		{ocispec.ImageIndexFile, index},
		{"manifest.json", entries},
		{ocispec.ImageLayoutFile, ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion}},
	}
	if len(repos) > 0 {
		files = append(files, struct {
			name string
			v    any
		}{"repositories", repos})
	}
	for _, f := range files {
		raw, err := json.Marshal(f.v)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(raw)), ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return err
		}
		if _, err := tw.Write(raw); err != nil {
			return err
		}
	}
	return tw.Close()
}
