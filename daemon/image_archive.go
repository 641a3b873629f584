package daemon

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"

	"github.com/berth-dev/berth/archive"
	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/image"
	imagearchive "github.com/berth-dev/berth/image/archive"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ImageSave resolves names (references, IDs or repository names, which stand for all
// their tags) and returns the function that writes them as one image archive: a
// docker-archive that is also an OCI image layout.
func (d *Daemon) ImageSave(ctx context.Context, names []string) (func(io.Writer) error, error) {
	if len(names) == 0 {
		return nil, errdefs.InvalidParameter("no image names given")
	}
	var (
		imgs []imagearchive.SaveImage
		byID = map[string]int{}
		list []*image.Image
	)
	add := func(img *image.Image, tag reference.NamedTagged) error {
		i, ok := byID[img.ID]
		if !ok {
			if img.ManifestDigest == "" {
				return errdefs.New(errdefs.ErrNotImplemented, fmt.Sprintf("image %s has no stored manifest: Berth cannot save it", shortID(strings.TrimPrefix(img.ID, "sha256:"))))
			}
			i = len(imgs)
			byID[img.ID] = i
			imgs = append(imgs, imagearchive.SaveImage{Manifest: digest.Digest(img.ManifestDigest)})
		}
		if tag != nil && !slices.ContainsFunc(imgs[i].Tags, func(t reference.NamedTagged) bool { return t.String() == tag.String() }) {
			imgs[i].Tags = append(imgs[i].Tags, tag)
		}
		return nil
	}
	for _, name := range names {
		named, err := reference.ParseNormalizedNamed(name)
		if err == nil && reference.IsNameOnly(named) {
			// A repository name: every tag of it, as docker save does.
			if list == nil {
				if list, err = d.images.List(ctx); err != nil {
					return nil, err
				}
			}
			found := false
			for _, img := range list {
				for _, t := range img.RepoTags {
					tn, err := reference.ParseNormalizedNamed(t)
					if err != nil || tn.Name() != named.Name() {
						continue
					}
					if tagged, ok := tn.(reference.NamedTagged); ok {
						if err := add(img, tagged); err != nil {
							return nil, err
						}
						found = true
					}
				}
			}
			if found {
				continue
			}
		}
		img, err := d.images.Get(ctx, name)
		if err != nil {
			return nil, err
		}
		var tag reference.NamedTagged
		if named != nil {
			if t, ok := reference.TagNameOnly(named).(reference.NamedTagged); ok && !strings.HasPrefix(img.ID, "sha256:"+name) {
				tag = t
			}
		}
		if err := add(img, tag); err != nil {
			return nil, err
		}
	}
	plan, err := imagearchive.Prepare(ctx, d.images.Content(), imgs)
	if err != nil {
		return nil, err
	}
	return func(w io.Writer) error {
		if err := plan.Write(ctx, w); err != nil {
			return err
		}
		for id := range byID {
			d.emitRaw(events.ImageEventType, events.ActionSave, id, map[string]string{"name": id})
		}
		return nil
	}, nil
}

// ImageLoad reads an image archive (docker-archive or OCI image layout tar) from r:
// blobs verified into the content store, layers unpacked into snapshots, images and
// their tags recorded. It returns docker's "Loaded image" lines. Bad archives are
// errdefs.ErrInvalidParameter and leave nothing behind.
func (d *Daemon) ImageLoad(ctx context.Context, r io.Reader) (lines []string, err error) {
	cs := d.images.Content()
	res, err := imagearchive.Read(ctx, r, cs)
	if err != nil {
		return nil, err
	}
	var created []string
	stored := false // once an image is recorded, its blobs and snapshots stay
	defer func() {
		if err != nil && !stored {
			imagearchive.Remove(ctx, d.sn, created)
			res.Discard(ctx)
		}
	}()
	recs := make([]*image.Image, len(res.Images))
	for i, li := range res.Images {
		u, err := imagearchive.Unpack(ctx, cs, d.sn, li.Layers, li.Config.RootFS.DiffIDs)
		if err != nil {
			return nil, err
		}
		created = append(created, u.Created...)
		img := &image.Image{ID: li.ConfigDigest.String(), Config: li.Config, ChainIDs: u.ChainIDs, Size: u.Size, ManifestDigest: li.Manifest.String()}
		if li.Config.Created != nil {
			img.Created = *li.Config.Created
		}
		recs[i] = img
	}
	for i, li := range res.Images {
		img := recs[i]
		for _, ref := range li.Refs {
			if old, err := d.images.Get(ctx, ref.String()); err == nil && old.ID != img.ID {
				lines = append(lines, fmt.Sprintf("The image %s already exists, renaming the old one with ID %s to empty string", reference.FamiliarString(ref), old.ID))
			}
		}
		if err := d.images.Put(ctx, img, li.Refs...); err != nil {
			return nil, err
		}
		stored = true
		if len(li.Refs) == 0 {
			lines = append(lines, "Loaded image ID: "+img.ID)
			d.emitRaw(events.ImageEventType, events.ActionLoad, img.ID, map[string]string{"name": img.ID})
		}
		for _, ref := range li.Refs {
			lines = append(lines, "Loaded image: "+reference.FamiliarString(ref))
			d.emitRaw(events.ImageEventType, events.ActionLoad, img.ID, map[string]string{"name": reference.FamiliarString(ref)})
		}
	}
	return lines, nil
}

// ImportOptions is what POST /images/create?fromSrc= carries.
type ImportOptions struct {
	Source    string    // "-" (Body) or an http(s) URL
	Body      io.Reader // the tarball when Source is "-"
	Repo, Tag string    // the reference to write, if Repo is set
	Message   string    // the history comment; default "Imported from <source>"
	Changes   []string  // Dockerfile instructions applied to the config
	Platform  string    // os/arch[/variant]; default the host's
}

// ImageImport creates a single-layer image from a filesystem tarball (plain, gzip or
// zstd) and returns it.
func (d *Daemon) ImageImport(ctx context.Context, o ImportOptions) (*image.Image, error) {
	var refs []reference.Named
	if o.Repo != "" {
		r, err := commitReference(o.Repo, o.Tag)
		if err != nil {
			return nil, err
		}
		refs = append(refs, r)
	} else if o.Tag != "" {
		return nil, errdefs.InvalidParameter("tag requires a repository name")
	}
	var cfg container.Config
	if err := applyChanges(&cfg, o.Changes); err != nil {
		return nil, err
	}
	platform := ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if o.Platform != "" {
		p, err := parsePlatform(o.Platform)
		if err != nil {
			return nil, err
		}
		platform = p
	}
	src := o.Body
	if o.Source != "-" {
		u, err := url.Parse(o.Source)
		if err != nil || u.Host == "" && u.Scheme == "" {
			if u, err = url.Parse("http://" + o.Source); err != nil {
				return nil, errdefs.InvalidParameter(err.Error())
			}
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return nil, errdefs.InvalidParameter(fmt.Sprintf("unsupported import source %q: use -, or an http or https URL", o.Source))
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, errdefs.InvalidParameter(err.Error())
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, errdefs.InvalidParameter(err.Error())
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, errdefs.InvalidParameter(fmt.Sprintf("error downloading %s: %s", u, resp.Status))
		}
		src = resp.Body
	}
	if src == nil {
		return nil, errdefs.InvalidParameter("no tarball to import")
	}
	msg := o.Message
	if msg == "" {
		msg = "Imported from " + o.Source
	}
	img, err := d.images.Commit(ctx, image.CommitOptions{
		Parent:  &image.Image{Config: dockerspec.DockerOCIImage{Image: ocispec.Image{Platform: platform}}},
		Config:  imageConfig(&cfg),
		Comment: msg,
		Layer: func(w io.Writer) error {
			dr, err := archive.DecompressStream(src)
			if err != nil {
				return err
			}
			defer dr.Close()
			_, err = io.Copy(w, dr)
			return err
		},
		Refs: refs,
	})
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, tar.ErrHeader) {
		return nil, errdefs.InvalidParameter("invalid tarball: " + err.Error())
	}
	if err != nil {
		return nil, err
	}
	attrs := map[string]string{"name": img.ID}
	if len(refs) > 0 {
		attrs["name"] = reference.FamiliarString(refs[0])
	}
	d.emitRaw(events.ImageEventType, events.ActionImport, img.ID, attrs)
	return img, nil
}
