package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"io"
	"path"
	"runtime"
	"slices"
	"strings"

	layerarchive "github.com/berth-dev/berth/archive"
	"github.com/berth-dev/berth/content"
	"github.com/berth-dev/berth/errdefs"
	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Store is the content store an archive is read into.
type Store interface {
	content.Provider
	content.Ingester
	content.Manager
}

// Image is one image found in an archive, with its blobs in the content store.
type Image struct {
	Manifest     digest.Digest             // platform manifest (written for a docker-archive)
	ConfigDigest digest.Digest             // the image ID
	Config       dockerspec.DockerOCIImage // parsed config
	Layers       []digest.Digest           // layer blobs, bottom to top
	Refs         []reference.Named
}

// Result is what Read found. Blobs it added that no image uses are removed by Read;
// Discard removes the rest (when the caller gives up on the images).
type Result struct {
	Images  []Image
	created []digest.Digest
	cs      Store
}

// Discard removes every blob the read added to the content store.
func (r *Result) Discard(ctx context.Context) {
	for _, d := range r.created {
		r.cs.Delete(context.WithoutCancel(ctx), d)
	}
	r.created = nil
}

// maxMetaSize bounds the metadata files (JSON) held in memory.
const maxMetaSize = 4 << 20

// Docker media types of an image written for a docker-archive.
const (
	mediaTypeDockerManifest  = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerConfig    = "application/vnd.docker.container.image.v1+json"
	mediaTypeDockerLayer     = "application/vnd.docker.image.rootfs.diff.tar"
	mediaTypeDockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

func invalid(format string, a ...any) error {
	return errdefs.InvalidParameter("invalid image archive: " + fmt.Sprintf(format, a...))
}

// reader holds the state of one Read.
type reader struct {
	cs      Store
	meta    map[string][]byte        // small files by clean path
	links   map[string]string        // symbolic and hard links: path -> target path
	blobs   map[string]digest.Digest // large files ingested, by clean path
	created map[digest.Digest]bool   // blobs this read added
	order   []digest.Digest
}

// Read ingests the tar r (a docker-archive or an OCI image layout) into cs, verifying
// every blob named by digest, and returns the images it describes. Errors in the
// archive are errdefs.ErrInvalidParameter; on error nothing read is left in cs.
func Read(ctx context.Context, r io.Reader, cs Store) (res *Result, err error) {
	rd := &reader{cs: cs, meta: map[string][]byte{}, links: map[string]string{}, blobs: map[string]digest.Digest{}, created: map[digest.Digest]bool{}}
	defer func() {
		if err != nil {
			(&Result{cs: cs, created: rd.order}).Discard(ctx)
		}
	}()
	res = &Result{cs: cs}
	if err := rd.scan(ctx, r); err != nil {
		return nil, err
	}
	var imgs []Image
	switch {
	case rd.meta[ocispec.ImageIndexFile] != nil:
		imgs, err = rd.oci(ctx)
	case rd.meta["manifest.json"] != nil:
		imgs, err = rd.docker(ctx)
	default:
		err = invalid("neither manifest.json nor index.json found")
	}
	if err != nil {
		return nil, err
	}
	res.Images = imgs
	used := map[digest.Digest]bool{}
	for _, img := range res.Images {
		used[img.Manifest], used[img.ConfigDigest] = true, true
		for _, l := range img.Layers {
			used[l] = true
		}
	}
	for _, d := range rd.order {
		if used[d] {
			res.created = append(res.created, d)
		} else {
			cs.Delete(context.WithoutCancel(ctx), d)
		}
	}
	return res, nil
}

// scan reads every regular file: blobs/sha256/<hex> and other large files go to the
// content store, small files stay in memory.
func (rd *reader) scan(ctx context.Context, r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil && !(errors.Is(err, tar.ErrInsecurePath) && hdr != nil) {
			return invalid("%v", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeSymlink && hdr.Typeflag != tar.TypeLink {
			continue
		}
		name, err := layerarchive.CleanName(hdr.Name)
		if err != nil || name == "" {
			return invalid("unsafe path %q", hdr.Name)
		}
		switch hdr.Typeflag {
		case tar.TypeSymlink: // docker save links a layer saved before under another ID
			rd.links[name] = path.Join(path.Dir(name), hdr.Linkname)
			continue
		case tar.TypeLink:
			rd.links[name] = hdr.Linkname
			continue
		}
		if dir, hex := path.Split(name); dir == "blobs/sha256/" {
			d := digest.NewDigestFromEncoded(digest.SHA256, hex)
			if d.Validate() != nil {
				return invalid("bad blob name %q", hdr.Name)
			}
			if err := rd.ingest(ctx, d, hdr.Size, tr); err != nil {
				return err
			}
			rd.blobs[name] = d
			continue
		}
		if hdr.Size <= maxMetaSize && !strings.HasSuffix(name, ".tar") {
			b, err := io.ReadAll(tr)
			if err != nil {
				return invalid("%v", err)
			}
			rd.meta[name] = b
			continue
		}
		d, err := rd.ingestUnknown(ctx, hdr.Size, tr)
		if err != nil {
			return err
		}
		rd.blobs[name] = d
	}
}

func (rd *reader) track(d digest.Digest, existed bool) {
	if !existed && !rd.created[d] {
		rd.created[d] = true
		rd.order = append(rd.order, d)
	}
}

// ingest stores r as blob d, verifying size and digest.
func (rd *reader) ingest(ctx context.Context, d digest.Digest, size int64, r io.Reader) error {
	w, err := rd.cs.Writer(ctx, d, size)
	if errors.Is(err, content.ErrExists) {
		return nil
	}
	if err != nil {
		return err
	}
	defer w.Close()
	if _, err := io.Copy(struct{ io.Writer }{w}, r); err != nil {
		return invalid("blob %s: %v", d, err)
	}
	if err := w.Commit(ctx); err != nil {
		if errdefs.IsInvalidParameter(err) {
			return invalid("%v", err)
		}
		return err
	}
	rd.track(d, false)
	return nil
}

// ingestUnknown stores r as a blob named by its digest.
func (rd *reader) ingestUnknown(ctx context.Context, size int64, r io.Reader) (digest.Digest, error) {
	w, err := rd.cs.Writer(ctx, "", size)
	if err != nil {
		return "", err
	}
	defer w.Close()
	if _, err := io.Copy(struct{ io.Writer }{w}, r); err != nil {
		return "", invalid("%v", err)
	}
	d := w.Digest()
	_, ierr := rd.cs.Info(ctx, d)
	if err := w.Commit(ctx); err != nil {
		return "", err
	}
	rd.track(d, ierr == nil)
	return d, nil
}

// file returns the blob at path p of the archive, storing a small file on first use.
func (rd *reader) file(ctx context.Context, p string) (digest.Digest, error) {
	name, err := layerarchive.CleanName(p)
	if err != nil || name == "" || strings.HasPrefix(p, "/") || slices.Contains(strings.Split(p, "/"), "..") {
		return "", invalid("path %q is outside the archive", p)
	}
	for hops := 0; rd.links[name] != ""; hops++ {
		target, err := layerarchive.CleanName(rd.links[name])
		if err != nil || target == "" || strings.HasPrefix(rd.links[name], "/") || hops > 8 {
			return "", invalid("link %q is outside the archive", name)
		}
		name = target
	}
	if d, ok := rd.blobs[name]; ok {
		return d, nil
	}
	b, ok := rd.meta[name]
	if !ok {
		return "", invalid("%s not found in the archive", p)
	}
	d := digest.FromBytes(b)
	if err := rd.ingest(ctx, d, int64(len(b)), bytes.NewReader(b)); err != nil {
		return "", err
	}
	rd.blobs[name], rd.blobs[blobPath(d)] = d, d
	return d, nil
}

// blob returns a blob of the archive named by digest, read whole.
func (rd *reader) blob(ctx context.Context, d digest.Digest) ([]byte, error) {
	if d.Validate() != nil || d.Algorithm() != digest.SHA256 {
		return nil, invalid("bad digest %q", d)
	}
	if _, ok := rd.blobs[blobPath(d)]; !ok {
		return nil, invalid("blob %s not found in the archive", d)
	}
	ra, err := rd.cs.ReaderAt(ctx, d)
	if err != nil {
		return nil, err
	}
	defer ra.Close()
	if ra.Size() > maxMetaSize {
		return nil, invalid("blob %s is too large for a manifest or config", d)
	}
	return content.ReadBlob(ctx, rd.cs, d)
}

// image checks the config and layers of an image and returns it.
func (rd *reader) image(ctx context.Context, mdgst, cdgst digest.Digest, layers []digest.Digest, refs []reference.Named) (Image, error) {
	raw, err := rd.blob(ctx, cdgst)
	if err != nil {
		return Image{}, err
	}
	img := Image{Manifest: mdgst, ConfigDigest: cdgst, Layers: layers, Refs: refs}
	if err := json.Unmarshal(raw, &img.Config); err != nil {
		return Image{}, invalid("config %s: %v", cdgst, err)
	}
	if n := len(img.Config.RootFS.DiffIDs); n != len(layers) {
		return Image{}, invalid("image %s has %d layers but its config lists %d", cdgst, len(layers), n)
	}
	for _, d := range img.Config.RootFS.DiffIDs {
		if d.Validate() != nil {
			return Image{}, invalid("config %s: bad diff ID %q", cdgst, d)
		}
	}
	return img, nil
}

// docker reads the images of manifest.json, writing a Docker v2 manifest for each.
func (rd *reader) docker(ctx context.Context) ([]Image, error) {
	var entries []dockerEntry
	if err := json.Unmarshal(rd.meta["manifest.json"], &entries); err != nil {
		return nil, invalid("manifest.json: %v", err)
	}
	if len(entries) == 0 {
		return nil, invalid("manifest.json lists no image")
	}
	var out []Image
	for _, e := range entries {
		refs, err := tagRefs(e.RepoTags)
		if err != nil {
			return nil, err
		}
		cdgst, err := rd.file(ctx, e.Config)
		if err != nil {
			return nil, err
		}
		craw, err := content.ReadBlob(ctx, rd.cs, cdgst)
		if err != nil {
			return nil, err
		}
		m := manifest{SchemaVersion: 2, MediaType: mediaTypeDockerManifest,
			Config: ocispec.Descriptor{MediaType: mediaTypeDockerConfig, Digest: cdgst, Size: int64(len(craw))}}
		layers := make([]digest.Digest, len(e.Layers))
		for i, p := range e.Layers {
			if layers[i], err = rd.file(ctx, p); err != nil {
				return nil, err
			}
			info, err := rd.cs.Info(ctx, layers[i])
			if err != nil {
				return nil, err
			}
			mt, err := rd.layerType(ctx, layers[i])
			if err != nil {
				return nil, err
			}
			m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: mt, Digest: layers[i], Size: info.Size})
		}
		if m.Layers == nil {
			m.Layers = []ocispec.Descriptor{}
		}
		raw, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		mdgst := digest.FromBytes(raw)
		if err := rd.ingest(ctx, mdgst, int64(len(raw)), bytes.NewReader(raw)); err != nil {
			return nil, err
		}
		rd.blobs[blobPath(mdgst)] = mdgst
		img, err := rd.image(ctx, mdgst, cdgst, layers, refs)
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	return out, nil
}

// layerType is the Docker media type of a layer blob, from its first bytes.
func (rd *reader) layerType(ctx context.Context, d digest.Digest) (string, error) {
	ra, err := rd.cs.ReaderAt(ctx, d)
	if err != nil {
		return "", err
	}
	defer ra.Close()
	head := make([]byte, 4)
	n, _ := ra.ReadAt(head, 0)
	switch layerarchive.DetectCompression(head[:n]) {
	case layerarchive.Gzip:
		return mediaTypeDockerLayerGzip, nil
	case layerarchive.Zstd:
		return ocispec.MediaTypeImageLayerZstd, nil
	}
	return mediaTypeDockerLayer, nil
}

func tagRefs(tags []string) ([]reference.Named, error) {
	var refs []reference.Named
	for _, t := range tags {
		named, err := reference.ParseNormalizedNamed(t)
		if err != nil {
			return nil, invalid("bad tag %q: %v", t, err)
		}
		if _, ok := named.(reference.NamedTagged); !ok {
			return nil, invalid("tag %q has no tag", t)
		}
		refs = append(refs, named)
	}
	return refs, nil
}

// oci reads the images of index.json; an index inside gives the host's platform.
func (rd *reader) oci(ctx context.Context) ([]Image, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(rd.meta[ocispec.ImageIndexFile], &idx); err != nil {
		return nil, invalid("index.json: %v", err)
	}
	if len(idx.Manifests) == 0 {
		return nil, invalid("index.json lists no image")
	}
	var out []Image
	byManifest := map[digest.Digest]int{}
	for _, desc := range idx.Manifests {
		ref, err := refName(desc.Annotations)
		if err != nil {
			return nil, err
		}
		mdgst, err := rd.platformManifest(ctx, desc, 0)
		if err != nil {
			return nil, err
		}
		if i, ok := byManifest[mdgst]; ok {
			if ref != nil {
				out[i].Refs = append(out[i].Refs, ref)
			}
			continue
		}
		raw, err := rd.blob(ctx, mdgst)
		if err != nil {
			return nil, err
		}
		var m manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, invalid("manifest %s: %v", mdgst, err)
		}
		layers := make([]digest.Digest, len(m.Layers))
		for i, l := range m.Layers {
			if _, ok := rd.blobs[blobPath(l.Digest)]; !ok || l.Digest.Validate() != nil {
				return nil, invalid("layer %s not found in the archive", l.Digest)
			}
			layers[i] = l.Digest
		}
		var refs []reference.Named
		if ref != nil {
			refs = append(refs, ref)
		}
		img, err := rd.image(ctx, mdgst, m.Config.Digest, layers, refs)
		if err != nil {
			return nil, err
		}
		byManifest[mdgst] = len(out)
		out = append(out, img)
	}
	return out, nil
}

// refName is the image name an index entry carries: containerd's full name, or an OCI
// ref name that is a full reference (a bare tag names nothing).
func refName(ann map[string]string) (reference.Named, error) {
	name := ann[annotationImageName]
	if name == "" {
		if n := ann[ocispec.AnnotationRefName]; strings.ContainsAny(n, ":/") {
			name = n
		}
	}
	if name == "" {
		return nil, nil
	}
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return nil, invalid("bad image name %q: %v", name, err)
	}
	if _, ok := named.(reference.NamedTagged); !ok {
		if _, ok := named.(reference.Canonical); ok {
			return nil, nil
		}
		named = reference.TagNameOnly(named)
	}
	return named, nil
}

// platformManifest resolves desc to an image manifest present in the archive: an
// index gives the entry for the host's platform, or its only entry present.
func (rd *reader) platformManifest(ctx context.Context, desc ocispec.Descriptor, depth int) (digest.Digest, error) {
	if desc.MediaType != ocispec.MediaTypeImageIndex && desc.MediaType != "application/vnd.docker.distribution.manifest.list.v2+json" {
		return desc.Digest, nil
	}
	if depth > 2 {
		return "", invalid("indexes nested too deep")
	}
	raw, err := rd.blob(ctx, desc.Digest)
	if err != nil {
		return "", err
	}
	var idx ocispec.Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		return "", invalid("index %s: %v", desc.Digest, err)
	}
	var present []ocispec.Descriptor
	for _, m := range idx.Manifests {
		if _, ok := rd.blobs[blobPath(m.Digest)]; ok && m.Digest.Validate() == nil {
			present = append(present, m)
		}
	}
	for _, m := range present {
		if m.Platform != nil && m.Platform.OS == "linux" && m.Platform.Architecture == runtime.GOARCH {
			return rd.platformManifest(ctx, m, depth+1)
		}
	}
	if len(present) == 1 {
		return rd.platformManifest(ctx, present[0], depth+1)
	}
	return "", invalid("index %s has no image for linux/%s in the archive", desc.Digest, runtime.GOARCH)
}
