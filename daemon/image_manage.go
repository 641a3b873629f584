package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/image"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/volume"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// imageMu serializes tag, delete and prune, so that a reference count checked before a
// removal still holds when the removal happens.
var imageMu sync.Mutex

// pruneRunning refuses a second concurrent image prune, as dockerd does.
var pruneRunning atomic.Bool

// ImageListOptions mirrors GET /images/json.
type ImageListOptions struct {
	All        bool
	SharedSize bool
	Filters    map[string][]string
}

var imageListFilters = map[string]bool{"dangling": true, "label": true, "before": true, "since": true, "reference": true, "until": true}

// ListImages returns the image summaries of GET /images/json, newest first.
func (d *Daemon) ListImages(ctx context.Context, o ImageListOptions) ([]imagetypes.Summary, error) {
	f := o.Filters
	if err := validateFilters(f, imageListFilters); err != nil {
		return nil, err
	}
	danglingOnly, err := filterBool(f, "dangling", false)
	if err != nil {
		return nil, err
	}
	var before, since time.Time
	for _, v := range f["before"] {
		img, err := d.images.Get(ctx, v)
		if err != nil {
			return nil, err
		}
		if before.IsZero() || before.After(img.Created) {
			before = img.Created
		}
	}
	for _, v := range f["until"] {
		ts, err := parseTimestamp(v, time.Now())
		if err != nil {
			return nil, err
		}
		if before.IsZero() || before.After(ts) {
			before = ts
		}
	}
	for _, v := range f["since"] {
		img, err := d.images.Get(ctx, v)
		if err != nil {
			return nil, err
		}
		if since.Before(img.Created) {
			since = img.Created
		}
	}
	imgs, err := d.images.List(ctx)
	if err != nil {
		return nil, err
	}
	var layerUsers map[string]int
	if o.SharedSize {
		layerUsers = map[string]int{}
		for _, img := range imgs {
			for _, c := range img.ChainIDs {
				layerUsers[c]++
			}
		}
	}
	_, hasRef := f["reference"]
	_, hasDangling := f["dangling"]
	parents := map[string]bool{}
	for _, img := range imgs {
		if img.Parent != "" {
			parents[img.Parent] = true
		}
	}
	out := []imagetypes.Summary{}
	for _, img := range imgs {
		// Untagged images other images were built on (build steps) show with -a only.
		if !o.All && parents[img.ID] && len(img.RepoTags) == 0 && len(img.RepoDigests) == 0 {
			continue
		}
		if !before.IsZero() && !img.Created.Before(before) {
			continue
		}
		if !since.IsZero() && !img.Created.After(since) {
			continue
		}
		labels := img.Config.Config.Labels
		if _, ok := f["label"]; ok && !matchKVList(f["label"], labels) {
			continue
		}
		s := imageSummary(img)
		for _, r := range img.RepoTags {
			if !hasRef || matchReference(f["reference"], r) {
				s.RepoTags = append(s.RepoTags, r)
			}
		}
		for _, r := range img.RepoDigests {
			if !hasRef || matchReference(f["reference"], r) {
				s.RepoDigests = append(s.RepoDigests, r)
			}
		}
		switch {
		case len(s.RepoTags) == 0 && len(s.RepoDigests) == 0:
			if hasDangling && !danglingOnly || hasRef {
				continue
			}
		case danglingOnly && len(s.RepoTags) > 0:
			continue
		}
		s.RepoTags, s.RepoDigests = nonNil(s.RepoTags), nonNil(s.RepoDigests)
		if o.SharedSize {
			s.SharedSize = 0
			for _, c := range img.ChainIDs {
				if layerUsers[c] > 1 {
					s.SharedSize += d.images.LayerSize(ctx, c)
				}
			}
		}
		out = append(out, s)
	}
	// Newest first; ties (tags of one image, images made in the same second) in a fixed
	// order, so every listing prints the same.
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Created != out[j].Created {
			return out[i].Created > out[j].Created
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// imageSummary is img as GET /images/json shows it, without references.
func imageSummary(img *image.Image) imagetypes.Summary {
	var created int64
	if !img.Created.IsZero() {
		created = img.Created.Unix()
	}
	labels := img.Config.Config.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	return imagetypes.Summary{ID: img.ID, ParentID: img.Parent, Created: created, Size: img.Size, SharedSize: -1, Containers: -1, Labels: labels}
}

// matchReference reports whether the familiar reference ref (or its name) matches one of
// the shell patterns, as docker's reference filter does.
func matchReference(patterns []string, ref string) bool {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return false
	}
	for _, p := range patterns {
		if ok, _ := reference.FamiliarMatch(p, named); ok {
			return true
		}
	}
	return false
}

// validateFilters refuses filter keys outside accepted, with docker's message.
func validateFilters(f map[string][]string, accepted map[string]bool) error {
	for k := range f {
		if !accepted[k] {
			return errdefs.InvalidParameter(fmt.Sprintf("invalid filter '%s'", k))
		}
	}
	return nil
}

// filterBool reads a true/false filter; a missing key gives def.
func filterBool(f map[string][]string, key string, def bool) (bool, error) {
	vals, ok := f[key]
	if !ok {
		return def, nil
	}
	isTrue := slices.Contains(vals, "true") || slices.Contains(vals, "1")
	isFalse := slices.Contains(vals, "false") || slices.Contains(vals, "0")
	if isTrue == isFalse {
		return def, errdefs.InvalidParameter(fmt.Sprintf("invalid filter '%s=%s'", key, strings.Join(vals, ",")))
	}
	return isTrue, nil
}

// matchKVList reports whether labels hold every key (and value, when given) of want.
func matchKVList(want []string, labels map[string]string) bool {
	if len(want) == 0 {
		return true
	}
	if len(labels) == 0 {
		return false
	}
	for _, w := range want {
		k, v, hasV := strings.Cut(w, "=")
		got, ok := labels[k]
		if !ok || hasV && got != v {
			return false
		}
	}
	return true
}

// parseTimestamp reads docker's until/since values: a Go duration before now, Unix
// seconds (with optional fraction), or an RFC 3339 date or date-time.
func parseTimestamp(v string, now time.Time) (time.Time, error) {
	if dur, err := time.ParseDuration(v); err == nil {
		return now.Add(-dur), nil
	}
	if sec, frac, hasFrac := strings.Cut(v, "."); sec != "" {
		if s, err := strconv.ParseInt(sec, 10, 64); err == nil {
			var ns int64
			if hasFrac {
				f, err := strconv.ParseFloat("0."+frac, 64)
				if err != nil {
					return time.Time{}, errdefs.InvalidParameter(fmt.Sprintf("failed to parse value as time or duration: %q", v))
				}
				ns = int64(f * 1e9)
			}
			return time.Unix(s, ns), nil
		}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02T15", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errdefs.InvalidParameter(fmt.Sprintf("failed to parse value as time or duration: %q", v))
}

// ImageTag points repo:tag (tag defaults to latest) at the image source.
func (d *Daemon) ImageTag(ctx context.Context, source, repo, tag string) error {
	ref, err := repoTagReference(repo, tag)
	if err != nil {
		return err
	}
	img, err := d.images.Get(ctx, source)
	if err != nil {
		return err
	}
	imageMu.Lock()
	err = d.images.Tag(ctx, img.ID, ref)
	imageMu.Unlock()
	if err != nil {
		return err
	}
	d.emitImage(img, events.ActionTag, reference.FamiliarString(ref))
	return nil
}

// repoTagReference builds the reference of POST /images/{name}/tag from repo and tag.
func repoTagReference(repo, tag string) (reference.NamedTagged, error) {
	if repo == "" {
		return nil, errdefs.InvalidParameter("repository name must have at least one component")
	}
	named, err := reference.ParseNormalizedNamed(repo)
	if err != nil {
		return nil, errdefs.InvalidParameter(err.Error())
	}
	if _, ok := named.(reference.Digested); ok {
		return nil, errdefs.InvalidParameter("cannot import digest reference")
	}
	if _, ok := named.(reference.Tagged); ok && tag != "" {
		return nil, errdefs.InvalidParameter(reference.ErrReferenceInvalidFormat.Error())
	}
	var ref reference.Named = named
	if tag != "" {
		if ref, err = reference.WithTag(named, tag); err != nil {
			return nil, errdefs.InvalidParameter(err.Error())
		}
	}
	tagged, ok := reference.TagNameOnly(ref).(reference.NamedTagged)
	if !ok {
		return nil, errdefs.InvalidParameter(reference.ErrReferenceInvalidFormat.Error())
	}
	if reference.FamiliarName(tagged) == string(digest.Canonical) {
		return nil, errdefs.InvalidParameter("refusing to create an ambiguous tag using digest algorithm as name")
	}
	return tagged, nil
}

// emitImage records an image event: the image's labels plus name.
func (d *Daemon) emitImage(img *image.Image, action events.Action, name string) {
	attrs := map[string]string{}
	for k, v := range img.Config.Config.Labels {
		attrs[k] = v
	}
	attrs["name"] = name
	d.emitRaw(events.ImageEventType, action, img.ID, attrs)
}

// ImageDelete removes the reference or image ref as DELETE /images/{name} does: a
// reference is untagged, and the image goes when nothing else refers to it.
func (d *Daemon) ImageDelete(ctx context.Context, ref string, force, prune bool) ([]imagetypes.DeleteResponse, error) {
	imageMu.Lock()
	defer imageMu.Unlock()
	recs, _, err := d.imageDelete(ctx, ref, force, prune)
	return recs, err
}

// deleteConflict is dockerd's refusal to delete an image.
type deleteConflict struct {
	hard    bool // not even force overrides it
	used    bool // a container uses the image
	id      string
	message string
}

func (c *deleteConflict) Error() string {
	how := "must be forced"
	if c.hard {
		how = "cannot be forced"
	}
	return fmt.Sprintf("conflict: unable to delete %s (%s) - %s", shortImageID(c.id), how, c.message)
}

// Conflict marks the refusal as errdefs.ErrConflict (HTTP 409).
func (c *deleteConflict) Unwrap() error { return errdefs.ErrConflict }

const (
	conflictRunning   = 1 << iota // a running container uses it: hard
	conflictReference             // other references remain: soft
	conflictStopped               // a stopped container uses it: soft
	conflictHard      = conflictRunning
	conflictSoft      = conflictReference | conflictStopped
)

func shortImageID(id string) string { return shortID(strings.TrimPrefix(id, "sha256:")) }

// imageUser returns a container using image id that running selects, or nil.
func (d *Daemon) imageUser(id string, running func(bool) bool) *Container {
	d.mu.RLock()
	all := make([]*Container, 0, len(d.containers))
	for _, c := range d.containers {
		if c.ImageID == id {
			all = append(all, c)
		}
	}
	d.mu.RUnlock()
	sort.Slice(all, func(i, j int) bool { return all[i].Created.Before(all[j].Created) })
	for _, c := range all {
		c.mu.Lock()
		r := c.running() || c.State.Status == container.StateRestarting
		c.mu.Unlock()
		if running(r) {
			return c
		}
	}
	return nil
}

func (d *Daemon) checkDeleteConflict(img *image.Image, refs int, mask int) *deleteConflict {
	if mask&conflictRunning != 0 {
		if c := d.imageUser(img.ID, func(r bool) bool { return r }); c != nil {
			return &deleteConflict{hard: true, used: true, id: img.ID, message: "image is being used by running container " + shortID(c.ID)}
		}
	}
	if mask&conflictReference != 0 && refs > 0 {
		return &deleteConflict{id: img.ID, message: "image is referenced in multiple repositories"}
	}
	if mask&conflictStopped != 0 {
		if c := d.imageUser(img.ID, func(r bool) bool { return !r }); c != nil {
			return &deleteConflict{used: true, id: img.ID, message: "image is being used by stopped container " + shortID(c.ID)}
		}
	}
	return nil
}

// imageRefs returns the references pointing at img, parsed.
func imageRefs(img *image.Image) []reference.Named {
	var out []reference.Named
	for _, s := range append(slices.Clone(img.RepoTags), img.RepoDigests...) {
		if r, err := reference.ParseNormalizedNamed(s); err == nil {
			out = append(out, r)
		}
	}
	return out
}

// isSingleReference reports whether refs hold at most one tag, and digests of its
// repository only (what dockerd treats as "one reference").
func isSingleReference(refs []reference.Named) bool {
	if len(refs) <= 1 {
		return len(refs) == 1
	}
	var single reference.Named
	canonical := map[string]bool{}
	for _, r := range refs {
		if _, ok := r.(reference.Canonical); ok {
			canonical[r.Name()] = true
		} else if single == nil {
			single = r
		} else {
			return false
		}
	}
	if single == nil {
		single = refs[0]
	}
	return len(canonical) == 1 && canonical[single.Name()]
}

func isImageIDPrefix(id, prefix string) bool {
	return strings.HasPrefix(id, prefix) || strings.HasPrefix(strings.TrimPrefix(id, "sha256:"), prefix)
}

// imageDelete is ImageDelete under imageMu; it also returns the bytes freed.
func (d *Daemon) imageDelete(ctx context.Context, ref string, force, prune bool) ([]imagetypes.DeleteResponse, int64, error) {
	img, err := d.images.Get(ctx, ref)
	if err != nil {
		return nil, 0, err
	}
	recs := []imagetypes.DeleteResponse{}
	refs := imageRefs(img)
	untag := func(r reference.Named) error {
		if _, err := d.images.Untag(ctx, r); err != nil && !errdefs.IsNotFound(err) {
			return err
		}
		recs = append(recs, imagetypes.DeleteResponse{Untagged: reference.FamiliarString(r)})
		d.emitImage(img, events.ActionUnTag, img.ID)
		return nil
	}
	quiet := false
	if !isImageIDPrefix(img.ID, ref) {
		if !force && isSingleReference(refs) {
			if c := d.imageUser(img.ID, func(bool) bool { return true }); c != nil {
				return nil, 0, errdefs.Conflict(fmt.Sprintf("conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s",
					ref, shortID(c.ID), shortImageID(img.ID)))
			}
		}
		named, err := reference.ParseNormalizedNamed(ref)
		if err != nil {
			return nil, 0, errdefs.InvalidParameter(err.Error())
		}
		named = reference.TagNameOnly(named)
		if err := untag(named); err != nil {
			return nil, 0, err
		}
		var rest []reference.Named
		for _, r := range refs {
			if r.String() != named.String() {
				rest = append(rest, r)
			}
		}
		refs = rest
		// With no tag of that repository left, its digest references go too.
		if _, canonical := named.(reference.Canonical); !canonical {
			tagLeft := slices.ContainsFunc(refs, func(r reference.Named) bool {
				_, c := r.(reference.Canonical)
				return !c && r.Name() == named.Name()
			})
			if !tagLeft {
				rest = nil
				for _, r := range refs {
					if _, c := r.(reference.Canonical); c && r.Name() == named.Name() {
						if err := untag(r); err != nil {
							return recs, 0, err
						}
					} else {
						rest = append(rest, r)
					}
				}
				refs = rest
			}
		}
		if len(refs) > 0 {
			return recs, 0, nil
		}
		quiet = true
	} else if isSingleReference(refs) {
		mask := conflictHard
		if !force {
			mask |= conflictSoft &^ conflictReference
		}
		if c := d.checkDeleteConflict(img, 0, mask); c != nil {
			return nil, 0, c
		}
		for _, r := range refs {
			if err := untag(r); err != nil {
				return recs, 0, err
			}
		}
		refs = nil
	}

	mask := conflictHard
	if !force {
		mask |= conflictSoft
	}
	if d.hasChildImage(ctx, img.ID) {
		if quiet {
			return recs, 0, nil // the untag stands; the image stays for the images built on it
		}
		return nil, 0, &deleteConflict{hard: true, id: img.ID, message: "image has dependent child images"}
	}
	if c := d.checkDeleteConflict(img, len(refs), mask); c != nil {
		if quiet && c.used {
			return recs, 0, nil // the untag stands; the image stays for its container
		}
		return nil, 0, c
	}
	for _, r := range refs {
		if err := untag(r); err != nil {
			return recs, 0, err
		}
	}
	rm, err := d.images.Remove(ctx, img)
	if err != nil {
		return recs, 0, err
	}
	d.emitImage(img, events.ActionDelete, img.ID)
	recs = append(recs, imagetypes.DeleteResponse{Deleted: img.ID})
	for _, l := range rm.Layers {
		recs = append(recs, imagetypes.DeleteResponse{Deleted: l})
	}
	freed := rm.Bytes
	// As dockerd: the untagged parents nothing else uses go too (build steps), unless noprune.
	for parent := img.Parent; prune && parent != ""; {
		p, err := d.images.Get(ctx, parent)
		if err != nil || len(p.RepoTags) > 0 || len(p.RepoDigests) > 0 || d.hasChildImage(ctx, p.ID) ||
			d.checkDeleteConflict(p, 0, conflictHard|conflictSoft) != nil {
			break
		}
		rm, err := d.images.Remove(ctx, p)
		if err != nil {
			d.log.Warn("remove untagged parent image", "id", p.ID, "err", err)
			break
		}
		d.emitImage(p, events.ActionDelete, p.ID)
		recs = append(recs, imagetypes.DeleteResponse{Deleted: p.ID})
		for _, l := range rm.Layers {
			recs = append(recs, imagetypes.DeleteResponse{Deleted: l})
		}
		freed += rm.Bytes
		parent = p.Parent
	}
	return recs, freed, nil
}

// hasChildImage reports whether an image was built on image id.
func (d *Daemon) hasChildImage(ctx context.Context, id string) bool {
	imgs, err := d.images.List(ctx)
	if err != nil {
		return false
	}
	for _, i := range imgs {
		if i.Parent == id {
			return true
		}
	}
	return false
}

var imagePruneFilters = map[string]bool{"dangling": true, "label": true, "label!": true, "until": true}

// ImagesPrune removes unused images as POST /images/prune does: dangling ones only by
// default, every image no container uses with dangling=false.
func (d *Daemon) ImagesPrune(ctx context.Context, f map[string][]string) (*imagetypes.PruneReport, error) {
	if !pruneRunning.CompareAndSwap(false, true) {
		return nil, errdefs.Conflict("a prune operation is already running")
	}
	defer pruneRunning.Store(false)
	if err := validateFilters(f, imagePruneFilters); err != nil {
		return nil, err
	}
	danglingOnly, err := filterBool(f, "dangling", true)
	if err != nil {
		return nil, err
	}
	var until time.Time
	for _, v := range f["until"] {
		if until, err = parseTimestamp(v, time.Now()); err != nil {
			return nil, err
		}
	}
	imgs, err := d.images.List(ctx)
	if err != nil {
		return nil, err
	}
	imageMu.Lock()
	defer imageMu.Unlock()
	rep := &imagetypes.PruneReport{}
	parents := map[string]bool{}
	for _, img := range imgs {
		if img.Parent != "" {
			parents[img.Parent] = true
		}
	}
	for _, img := range imgs {
		if ctx.Err() != nil {
			break
		}
		// Dangling: untagged and no image built on it (build steps stay, as in docker).
		if danglingOnly && (len(img.RepoTags) > 0 || parents[img.ID]) {
			continue
		}
		if !until.IsZero() && img.Created.After(until) {
			continue
		}
		labels := img.Config.Config.Labels
		if !matchKVList(f["label"], labels) || len(f["label!"]) > 0 && matchKVList(f["label!"], labels) {
			continue
		}
		refs := imageRefs(img)
		names := make([]string, len(refs))
		for i, r := range refs {
			names[i] = r.String()
		}
		if len(names) == 0 {
			names = []string{strings.TrimPrefix(img.ID, "sha256:")}
		}
		for _, n := range names {
			recs, freed, err := d.imageDelete(ctx, n, false, true)
			if err != nil {
				if !errdefs.IsConflict(err) && !errdefs.IsNotFound(err) {
					d.log.Warn("prune image", "ref", n, "err", err)
				}
				continue
			}
			rep.ImagesDeleted = append(rep.ImagesDeleted, recs...)
			rep.SpaceReclaimed += uint64(freed)
		}
	}
	return rep, nil
}

// ImageHistory returns the layers of an image, newest first, as GET /images/{name}/history.
func (d *Daemon) ImageHistory(ctx context.Context, name string) ([]imagetypes.HistoryResponseItem, error) {
	img, err := d.images.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	hist := img.Config.History
	if len(hist) == 0 {
		// No history in the config: one anonymous entry per layer.
		for range img.ChainIDs {
			hist = append(hist, ocispec.History{Created: &img.Created})
		}
	}
	out := make([]imagetypes.HistoryResponseItem, 0, len(hist))
	layer := 0
	for _, h := range hist {
		var size int64
		if !h.EmptyLayer {
			if layer >= len(img.ChainIDs) {
				return nil, errors.New("too many non-empty layers in History section")
			}
			size = d.images.LayerSize(ctx, img.ChainIDs[layer])
			layer++
		}
		var created int64
		if h.Created != nil {
			created = h.Created.Unix()
		}
		out = append(out, imagetypes.HistoryResponseItem{ID: "<missing>", Created: created, CreatedBy: h.CreatedBy, Comment: h.Comment, Size: size})
	}
	slices.Reverse(out)
	if len(out) > 0 {
		out[0].ID = img.ID
		out[0].Tags = img.RepoTags
	}
	return out, nil
}

// DiskUsage is the GET /system/df document (API 1.47 shape).
type DiskUsage struct {
	LayersSize int64
	Images     []imagetypes.Summary
	Containers []container.Summary
	Volumes    []volume.Volume
	BuildCache []build.CacheRecord
}

// DiskUsage reports the space used by images (unpacked layers and their blobs),
// containers' writable layers, volumes and build cache. types limits the report to
// "image", "container", "volume" and "build-cache" (none: all).
func (d *Daemon) DiskUsage(ctx context.Context, types []string) (*DiskUsage, error) {
	want := func(t string) bool { return len(types) == 0 || slices.Contains(types, t) }
	for _, t := range types {
		switch t {
		case "image", "container", "volume", "build-cache":
		default:
			return nil, errdefs.InvalidParameter(fmt.Sprintf("unknown object type: %s", t))
		}
	}
	du := &DiskUsage{}
	if want("container") {
		cs, err := d.List(ctx, ListOptions{All: true, Size: true})
		if err != nil {
			return nil, err
		}
		du.Containers = cs
	}
	if want("volume") {
		du.Volumes = []volume.Volume{}
		users := d.volumeUsers()
		for _, v := range d.vols.List() {
			du.Volumes = append(du.Volumes, d.volumeAPI(v, users, true))
		}
	}
	if want("build-cache") {
		du.BuildCache = []build.CacheRecord{}
	}
	if !want("image") {
		return du, nil
	}
	imgs, err := d.images.List(ctx)
	if err != nil {
		return nil, err
	}
	users := d.imageUsers()
	type part struct {
		size  int64
		users int
	}
	parts := map[string]*part{} // "layer:<chain>" or "blob:<digest>"
	own := make([][]string, len(imgs))
	for i, img := range imgs {
		for _, c := range img.ChainIDs {
			k := "layer:" + c
			if parts[k] == nil {
				parts[k] = &part{size: d.images.LayerSize(ctx, c)}
			}
			parts[k].users++
			own[i] = append(own[i], k)
		}
		for dg, size := range d.images.Blobs(ctx, img) {
			k := "blob:" + dg.String()
			if parts[k] == nil {
				parts[k] = &part{size: size}
			}
			parts[k].users++
			own[i] = append(own[i], k)
		}
	}
	for _, p := range parts {
		du.LayersSize += p.size
	}
	du.Images = make([]imagetypes.Summary, 0, len(imgs))
	for i, img := range imgs {
		s := imageSummary(img)
		s.RepoTags, s.RepoDigests = nonNil(img.RepoTags), nonNil(img.RepoDigests)
		s.Size, s.SharedSize = 0, 0
		for _, k := range own[i] {
			s.Size += parts[k].size
			if parts[k].users > 1 {
				s.SharedSize += parts[k].size
			}
		}
		s.Containers = int64(users[img.ID])
		du.Images = append(du.Images, s)
	}
	return du, nil
}
