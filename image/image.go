package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/berth-dev/berth/content"
	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/metadata"
	"github.com/berth-dev/berth/snapshot"
	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
)

const (
	imagesBucket = "images"
	refsBucket   = "refs"
)

// Image is a stored image.
type Image struct {
	ID             string                    // "sha256:<hex>" of the config blob
	RepoTags       []string                  // familiar form, e.g. "busybox:latest"
	RepoDigests    []string                  // familiar form, e.g. "busybox@sha256:…"
	Created        time.Time                 // from the config
	Size           int64                     // sum of uncompressed layer sizes
	Config         dockerspec.DockerOCIImage // the image config (OCI plus docker's Healthcheck, OnBuild, Shell)
	ChainIDs       []string                  // snapshot keys of its layers, bottom to top
	ManifestDigest string                    // digest of the platform-specific manifest
	Parent         string                    `json:",omitempty"` // the image it was committed on (commit, build steps)
}

type refRecord struct {
	ID string `json:"id"`
}

// Store keeps images and references in the metadata database.
type Store struct {
	db *metadata.DB
	sn snapshot.Snapshotter
	cs *content.Store
}

// NewStore returns the image store of the data root.
func NewStore(root string, db *metadata.DB, sn snapshot.Snapshotter, cs *content.Store) (*Store, error) {
	if db == nil || sn == nil || cs == nil {
		return nil, errors.New("image store needs a database, a snapshotter and a content store")
	}
	return &Store{db: db, sn: sn, cs: cs}, nil
}

// Content is the content store holding the images' blobs.
func (s *Store) Content() *content.Store { return s.cs }

// ChainIDs returns the chain IDs (snapshot keys) of layers with the given DiffIDs.
func ChainIDs(diffIDs []digest.Digest) []string {
	ids := identity.ChainIDs(slices.Clone(diffIDs))
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

var hexPrefix = regexp.MustCompile(`^[a-f0-9]{1,64}$`)

// ParseRef normalizes a user's reference: "busybox" is docker.io/library/busybox:latest;
// a reference with tag and digest keeps only the digest. Errors are errdefs.ErrInvalidParameter.
func ParseRef(ref string) (reference.Named, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, errdefs.InvalidParameter(err.Error())
	}
	return normalize(named), nil
}

func normalize(named reference.Named) reference.Named {
	if c, ok := named.(reference.Canonical); ok {
		if _, tagged := named.(reference.Tagged); tagged {
			named, _ = reference.WithDigest(reference.TrimNamed(named), c.Digest())
		}
		return named
	}
	return reference.TagNameOnly(named)
}

func noSuchImage(ref reference.Reference) error {
	if named, ok := ref.(reference.Named); ok {
		ref = reference.TagNameOnly(named)
	}
	return errdefs.NotFound("No such image: " + reference.FamiliarString(ref))
}

// resolve finds the image ID that refOrID names, inside tx.
func resolve(tx *metadata.Tx, refOrID string) (string, error) {
	ref, err := reference.ParseAnyReference(refOrID)
	if err != nil {
		return "", errdefs.InvalidParameter(err.Error())
	}
	named, isNamed := ref.(reference.Named)
	if !isNamed {
		// A bare digest or a full 64-hex ID.
		if d, ok := ref.(reference.Digested); ok && tx.Has(imagesBucket, d.Digest().String()) {
			return d.Digest().String(), nil
		}
		return "", noSuchImage(ref)
	}
	named = normalize(named)
	var r refRecord
	if err := tx.Get(refsBucket, named.String(), &r); err == nil {
		return r.ID, nil
	} else if !errdefs.IsNotFound(err) {
		return "", err
	}
	// An ID prefix, with or without "sha256:".
	if p := strings.TrimPrefix(refOrID, "sha256:"); hexPrefix.MatchString(p) {
		var found []string
		err := tx.ForEach(imagesBucket, func(k string, _ []byte) error {
			if strings.HasPrefix(k, "sha256:"+p) {
				found = append(found, k)
			}
			return nil
		})
		if err != nil {
			return "", err
		}
		if len(found) == 1 {
			return found[0], nil
		}
	}
	return "", noSuchImage(named)
}

// refsByID maps image IDs to their familiar tags and digests.
func refsByID(tx *metadata.Tx) (map[string][2][]string, error) {
	out := map[string][2][]string{}
	err := tx.ForEach(refsBucket, func(k string, raw []byte) error {
		var r refRecord
		if err := json.Unmarshal(raw, &r); err != nil {
			return err
		}
		named, err := reference.ParseNormalizedNamed(k)
		if err != nil {
			return nil
		}
		e := out[r.ID]
		if _, ok := named.(reference.Canonical); ok {
			e[1] = append(e[1], reference.FamiliarString(named))
		} else {
			e[0] = append(e[0], reference.FamiliarString(named))
		}
		out[r.ID] = e
		return nil
	})
	return out, err
}

// Get returns the image named by a reference ("busybox", "busybox:latest",
// "docker.io/library/busybox@sha256:…"), a full ID or a unique ID prefix.
func (s *Store) Get(ctx context.Context, refOrID string) (*Image, error) {
	var img *Image
	err := s.db.View(func(tx *metadata.Tx) error {
		id, err := resolve(tx, refOrID)
		if err != nil {
			return err
		}
		img = &Image{}
		if err := tx.Get(imagesBucket, id, img); err != nil {
			if errdefs.IsNotFound(err) {
				return errdefs.NotFound("No such image: " + refOrID)
			}
			return err
		}
		refs, err := refsByID(tx)
		if err != nil {
			return err
		}
		img.RepoTags, img.RepoDigests = refs[id][0], refs[id][1]
		return nil
	})
	if err != nil {
		return nil, err
	}
	return img, nil
}

// List returns every image, newest first.
func (s *Store) List(ctx context.Context) ([]*Image, error) {
	var out []*Image
	err := s.db.View(func(tx *metadata.Tx) error {
		refs, err := refsByID(tx)
		if err != nil {
			return err
		}
		return tx.ForEach(imagesBucket, func(k string, raw []byte) error {
			img := &Image{}
			if err := json.Unmarshal(raw, img); err != nil {
				return err
			}
			img.RepoTags, img.RepoDigests = refs[k][0], refs[k][1]
			out = append(out, img)
			return nil
		})
	})
	slices.SortStableFunc(out, func(a, b *Image) int { return b.Created.Compare(a.Created) })
	return out, err
}

// Put stores img and points refs at it, in one transaction. A name without tag or
// digest gets "latest".
func (s *Store) Put(ctx context.Context, img *Image, refs ...reference.Named) error {
	if d, err := digest.Parse(img.ID); err != nil || d.Algorithm() != digest.SHA256 {
		return errdefs.InvalidParameter(fmt.Sprintf("invalid image ID %q", img.ID))
	}
	rec := *img
	rec.RepoTags, rec.RepoDigests = nil, nil
	return s.db.Update(func(tx *metadata.Tx) error {
		if err := tx.Put(imagesBucket, img.ID, &rec); err != nil {
			return err
		}
		for _, r := range refs {
			if err := tx.Put(refsBucket, normalize(r).String(), refRecord{ID: img.ID}); err != nil {
				return err
			}
		}
		return nil
	})
}

// Tag points ref at the image named by refOrID.
func (s *Store) Tag(ctx context.Context, refOrID string, ref reference.Named) error {
	return s.db.Update(func(tx *metadata.Tx) error {
		id, err := resolve(tx, refOrID)
		if err != nil {
			return err
		}
		return tx.Put(refsBucket, normalize(ref).String(), refRecord{ID: id})
	})
}

// Untag removes one reference and returns the ID it pointed at.
func (s *Store) Untag(ctx context.Context, ref reference.Named) (string, error) {
	key := normalize(ref).String()
	var r refRecord
	err := s.db.Update(func(tx *metadata.Tx) error {
		if err := tx.Get(refsBucket, key, &r); err != nil {
			if errdefs.IsNotFound(err) {
				return noSuchImage(ref)
			}
			return err
		}
		return tx.Delete(refsBucket, key)
	})
	return r.ID, err
}

// Delete removes the image id, every reference to it, and the layer snapshots that no
// other image uses. Blobs stay in the content store.
func (s *Store) Delete(ctx context.Context, id string) error {
	var img Image
	used := map[string]bool{}
	err := s.db.Update(func(tx *metadata.Tx) error {
		if err := tx.Get(imagesBucket, id, &img); err != nil {
			if errdefs.IsNotFound(err) {
				return errdefs.NotFound("No such image: " + id)
			}
			return err
		}
		var drop []string
		err := tx.ForEach(refsBucket, func(k string, raw []byte) error {
			var r refRecord
			if err := json.Unmarshal(raw, &r); err == nil && r.ID == id {
				drop = append(drop, k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range drop {
			if err := tx.Delete(refsBucket, k); err != nil {
				return err
			}
		}
		err = tx.ForEach(imagesBucket, func(k string, raw []byte) error {
			if k == id {
				return nil
			}
			var other Image
			if err := json.Unmarshal(raw, &other); err != nil {
				return err
			}
			for _, c := range other.ChainIDs {
				used[c] = true
			}
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Delete(imagesBucket, id)
	})
	if err != nil {
		return err
	}
	for i := len(img.ChainIDs) - 1; i >= 0; i-- {
		c := img.ChainIDs[i]
		if used[c] {
			break
		}
		if err := s.sn.Remove(ctx, c); err != nil && !errdefs.IsNotFound(err) {
			// Still the parent of a container's layer: it goes with a later delete.
			if errdefs.IsConflict(err) {
				break
			}
			return err
		}
	}
	return nil
}

// PrepareRootfs creates the writable snapshot key for a container on top of img's
// layers and returns how to mount it.
func (s *Store) PrepareRootfs(ctx context.Context, key string, img *Image) ([]snapshot.Mount, error) {
	parent := ""
	if n := len(img.ChainIDs); n > 0 {
		parent = img.ChainIDs[n-1]
	}
	return s.sn.Prepare(ctx, key, parent)
}

// RemoveRootfs removes the writable snapshot key (a missing one is not an error), and
// the layers below it that only a deleted image had.
func (s *Store) RemoveRootfs(ctx context.Context, key string) error {
	info, _ := s.sn.Stat(ctx, key)
	if err := s.sn.Remove(ctx, key); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	s.dropOrphanLayers(ctx, info.Parent)
	return nil
}
