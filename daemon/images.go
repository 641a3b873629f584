package daemon

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/image"
	"github.com/distribution/reference"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Pull fetches an image (fromImage plus optional tag or digest) and reports progress.
func (d *Daemon) Pull(ctx context.Context, from, tag, platform string, progress func(jsonstream.Message)) error {
	if tag == "" && !strings.ContainsAny(lastSegment(from), ":@") {
		return d.pullAllTags(ctx, from, platform, progress)
	}
	ref := from
	if tag != "" {
		if strings.HasPrefix(tag, "sha256:") {
			ref += "@" + tag
		} else {
			ref += ":" + tag
		}
	}
	if _, err := reference.ParseNormalizedNamed(ref); err != nil {
		return errdefs.InvalidParameter(err.Error())
	}
	var p *ocispec.Platform
	if platform != "" {
		pl, err := parsePlatform(platform)
		if err != nil {
			return err
		}
		p = &pl
	}
	_, err := d.puller.Pull(ctx, ref, p, progress)
	return err
}

// pullAllTags is pull --all-tags: the client sent a name without tag.
func (d *Daemon) pullAllTags(ctx context.Context, name, platform string, progress func(jsonstream.Message)) error {
	tags, err := d.puller.ListTags(ctx, name)
	if err != nil {
		return err
	}
	if len(tags) == 0 {
		return errdefs.NotFound(fmt.Sprintf("no tags found for %s", name))
	}
	for _, t := range tags {
		if err := d.Pull(ctx, name, t, platform, progress); err != nil {
			return err
		}
	}
	return nil
}

// lastSegment is the part of a reference after its last "/" (where a tag would be).
func lastSegment(ref string) string {
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		return ref[i+1:]
	}
	return ref
}

func parsePlatform(s string) (ocispec.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return ocispec.Platform{}, errdefs.InvalidParameter(fmt.Sprintf("%q: unknown operating system or architecture: invalid argument", s))
	}
	p := ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// ImageList returns the image summaries docker images shows, newest first.
func (d *Daemon) ImageList(ctx context.Context, all bool) ([]imagetypes.Summary, error) {
	return d.ListImages(ctx, ImageListOptions{All: all})
}

func (d *Daemon) imageUsers() map[string]int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	m := map[string]int{}
	for _, c := range d.containers {
		m[c.ImageID]++
	}
	return m
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ImageInspectResponse is docker's image inspect document at API 1.47, which always
// has Parent, Comment, Author and DockerVersion (the current types leave them out).
type ImageInspectResponse struct {
	*imagetypes.InspectResponse
	Parent        string
	Comment       string
	Author        string
	DockerVersion string
}

// ImageInspect returns docker's image inspect document.
func (d *Daemon) ImageInspect(ctx context.Context, ref string) (*ImageInspectResponse, error) {
	img, err := d.images.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	r := inspectImage(img)
	return &ImageInspectResponse{InspectResponse: r, Parent: img.Parent, Comment: r.Comment, Author: r.Author}, nil
}

func inspectImage(img *image.Image) *imagetypes.InspectResponse {
	c := img.Config
	created := ""
	if c.Created != nil {
		created = c.Created.UTC().Format(time.RFC3339Nano)
	}
	diffs := make([]string, len(c.RootFS.DiffIDs))
	for i, d := range c.RootFS.DiffIDs {
		diffs[i] = d.String()
	}
	comment := ""
	if n := len(c.History); n > 0 {
		comment = c.History[n-1].Comment // docker shows the last history entry's
	}
	return &imagetypes.InspectResponse{
		ID:           img.ID,
		Comment:      comment,
		RepoTags:     nonNil(img.RepoTags),
		RepoDigests:  nonNil(img.RepoDigests),
		Created:      created,
		Author:       c.Author,
		Config:       &c.Config,
		Architecture: c.Architecture,
		Variant:      c.Variant,
		Os:           c.OS,
		OsVersion:    c.OSVersion,
		Size:         img.Size,
		RootFS:       imagetypes.RootFS{Type: "layers", Layers: diffs},
	}
}
