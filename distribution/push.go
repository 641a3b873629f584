package distribution

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/berth-dev/berth/content"
	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/image"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/moby/moby/api/types/jsonstream"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// pushConcurrency is the number of layers uploaded at once (dockerd's default).
const pushConcurrency = 5

// PushResult is the aux message dockerd sends after each pushed tag.
type PushResult struct {
	Tag    string
	Digest string
	Size   int
}

// Push uploads the images that repo (a name without tag) has locally under tag, or under
// every tag when tag is "", to the repository's registry, reporting progress as dockerd does.
func (p *Puller) Push(ctx context.Context, repo, tag string, progress func(jsonstream.Message)) error {
	named, err := reference.ParseNormalizedNamed(repo)
	if err != nil {
		return errdefs.InvalidParameter(err.Error())
	}
	named = reference.TrimNamed(named)
	var tags []reference.NamedTagged
	if tag != "" {
		t, err := reference.WithTag(named, tag)
		if err != nil {
			return errdefs.InvalidParameter(err.Error())
		}
		tags = append(tags, t)
	} else {
		if tags, err = p.repoTags(ctx, named); err != nil {
			return err
		}
	}
	imgs := make([]*image.Image, len(tags))
	for i, t := range tags {
		img, err := p.store.Get(ctx, t.String())
		if err != nil {
			if errdefs.IsNotFound(err) {
				return errdefs.NotFound("An image does not exist locally with the tag: " + reference.FamiliarName(named))
			}
			return err
		}
		imgs[i] = img
	}
	if len(imgs) == 0 {
		return errdefs.NotFound("An image does not exist locally with the tag: " + reference.FamiliarName(named))
	}
	gr, err := p.pushRepository(named)
	if err != nil {
		return err
	}
	out := &output{fn: progress}
	out.status("", "The push refers to repository ["+named.Name()+"]")
	for i, img := range imgs {
		if err := p.pushImage(ctx, gr, tags[i].Tag(), img, out); err != nil {
			return err
		}
	}
	return nil
}

// repoTags lists the local tags of named's repository.
func (p *Puller) repoTags(ctx context.Context, named reference.Named) ([]reference.NamedTagged, error) {
	imgs, err := p.store.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []reference.NamedTagged
	for _, img := range imgs {
		for _, rt := range img.RepoTags {
			r, err := reference.ParseNormalizedNamed(rt)
			if err != nil || r.Name() != named.Name() {
				continue
			}
			if t, ok := r.(reference.NamedTagged); ok {
				out = append(out, t)
			}
		}
	}
	return out, nil
}

// pushRepository is the registry repository named is pushed to.
func (p *Puller) pushRepository(named reference.Named) (name.Repository, error) {
	domain, host, insecure := reference.Domain(named), reference.Domain(named), false
	if domain == dockerHubDomain {
		if p.opts.NoHub {
			return name.Repository{}, errdefs.InvalidParameter("Docker Hub is disabled on this daemon (--no-docker-hub)")
		}
		host = dockerHubRegistry
		if p.opts.Hub != "" {
			h, ins, err := p.parseMirror(p.opts.Hub)
			if err != nil {
				return name.Repository{}, err
			}
			host, insecure = h, ins
		}
	} else {
		insecure = p.isInsecure(host)
	}
	opts := []name.Option{name.StrictValidation}
	if insecure {
		opts = append(opts, name.Insecure)
	}
	r, err := name.NewRepository(host+"/"+reference.Path(named), opts...)
	if err != nil {
		return name.Repository{}, errdefs.InvalidParameter(err.Error())
	}
	return r, nil
}

// mountSource is a repository of target's registry that an image sharing img's
// bottom layer was pulled from or pushed to, to mount blobs from ("" for none). A blob
// the source lacks is uploaded as usual.
func (p *Puller) mountSource(ctx context.Context, img *image.Image, target name.Repository) string {
	imgs := []*image.Image{img}
	if len(img.ChainIDs) > 0 {
		if all, err := p.store.List(ctx); err == nil {
			for _, o := range all {
				if o.ID != img.ID && len(o.ChainIDs) > 0 && o.ChainIDs[0] == img.ChainIDs[0] {
					imgs = append(imgs, o)
				}
			}
		}
	}
	for _, o := range imgs {
		for _, r := range append(append([]string{}, o.RepoDigests...), o.RepoTags...) {
			n, err := reference.ParseNormalizedNamed(r)
			if err != nil || reference.Domain(n) != target.RegistryStr() {
				continue
			}
			if path := reference.Path(n); path != target.RepositoryStr() {
				return path
			}
		}
	}
	return ""
}

// pushManifest is the part of a stored manifest a push reads.
type pushManifest struct {
	MediaType string               `json:"mediaType"`
	Config    ocispec.Descriptor   `json:"config"`
	Layers    []ocispec.Descriptor `json:"layers"`
}

// pushSession is the state of pushing one image to one repository.
type pushSession struct {
	p      *Puller
	repo   name.Repository
	client *http.Client
	from   string // repository to mount blobs from, or ""
	anon   bool
}

func (p *Puller) pushImage(ctx context.Context, repo name.Repository, tag string, img *image.Image, out *output) error {
	if img.ManifestDigest == "" {
		return errdefs.InvalidParameter(fmt.Sprintf("image %s has no stored registry manifest and cannot be pushed", img.ID))
	}
	raw, err := content.ReadBlob(ctx, p.cs, digest.Digest(img.ManifestDigest))
	if err != nil {
		return fmt.Errorf("read manifest of %s: %w", img.ID, err)
	}
	var m pushManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("parse manifest of %s: %w", img.ID, err)
	}
	if len(m.Layers) != len(img.Config.RootFS.DiffIDs) {
		return fmt.Errorf("manifest of %s lists %d layers for %d diff IDs", img.ID, len(m.Layers), len(img.Config.RootFS.DiffIDs))
	}
	s := &pushSession{p: p, repo: repo, from: p.mountSource(ctx, img, repo)}
	auth, err := p.authenticator(ctx, repo.Registry)
	if err != nil {
		return err
	}
	s.anon = isAnonymous(auth)
	scopes := []string{repo.Scope(transport.PushScope)}
	if s.from != "" {
		scopes = append(scopes, repo.Registry.Repo(s.from).Scope(transport.PullScope))
	}
	base := p.secure
	if repo.Scheme() == "http" {
		base = p.noTLS
	}
	tr, err := transport.NewWithContext(ctx, repo.Registry, auth, base, scopes)
	if err != nil {
		return s.pushError(err)
	}
	s.client = &http.Client{Transport: tr}

	// Layers top first, as dockerd lists them.
	n := len(m.Layers)
	ids := make([]string, n)
	for i := n - 1; i >= 0; i-- {
		ids[i] = img.Config.RootFS.DiffIDs[i].Encoded()[:12]
		out.status(ids[i], "Preparing")
	}
	for i := n - 1 - pushConcurrency; i >= 0; i-- {
		out.status(ids[i], "Waiting")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, n)
	sem := make(chan struct{}, pushConcurrency)
	var wg sync.WaitGroup
	for i := n - 1; i >= 0; i-- {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			if errs[i] = s.pushLayer(ctx, ids[i], m.Layers[i], out); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	// The first real failure, not the cancellations it caused.
	var first error
	for i := n - 1; i >= 0; i-- {
		if errs[i] != nil && (first == nil || errors.Is(first, context.Canceled)) {
			first = errs[i]
		}
	}
	if first != nil {
		return s.pushError(first)
	}
	if err := s.pushBlob(ctx, m.Config, nil); err != nil {
		return s.pushError(err)
	}
	if err := s.putManifest(ctx, tag, m.MediaType, raw); err != nil {
		return s.pushError(err)
	}
	dgst := digest.FromBytes(raw)
	out.status("", fmt.Sprintf("%s: digest: %s size: %d", tag, dgst, len(raw)))
	aux, _ := json.Marshal(PushResult{Tag: tag, Digest: dgst.String(), Size: len(raw)})
	rm := json.RawMessage(aux)
	out.send(jsonstream.Message{Progress: &jsonstream.Progress{}, Aux: &rm})
	return nil
}

// pushLayer uploads one layer unless the registry has it, mounting it when it can.
func (s *pushSession) pushLayer(ctx context.Context, id string, desc ocispec.Descriptor, out *output) error {
	if ok, err := s.exists(ctx, desc.Digest); err != nil {
		return err
	} else if ok {
		out.status(id, "Layer already exists")
		return nil
	}
	m := &meter{out: out, id: id, status: "Pushing", total: desc.Size}
	mounted, err := s.upload(ctx, desc, m)
	if err != nil {
		return err
	}
	if mounted {
		out.status(id, "Mounted from "+s.from)
	} else {
		out.status(id, "Pushed")
	}
	return nil
}

// pushBlob uploads a blob the registry lacks (the image config).
func (s *pushSession) pushBlob(ctx context.Context, desc ocispec.Descriptor, m *meter) error {
	if ok, err := s.exists(ctx, desc.Digest); err != nil || ok {
		return err
	}
	_, err := s.upload(ctx, desc, m)
	return err
}

func (s *pushSession) url(path string) string {
	reg := s.repo.Registry
	return fmt.Sprintf("%s://%s/v2/%s/%s", reg.Scheme(), reg.RegistryStr(), s.repo.RepositoryStr(), path)
}

func (s *pushSession) do(ctx context.Context, method, u string, body io.Reader, size int64, hdr map[string]string, codes ...int) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	if err := transport.CheckError(resp, codes...); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

func (s *pushSession) exists(ctx context.Context, d digest.Digest) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, s.url("blobs/"+d.String()), nil)
	if err != nil {
		return false, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, transport.CheckError(resp, http.StatusOK, http.StatusNotFound)
}

// upload starts an upload session, asking to mount the blob from s.from; when the
// registry does not mount it, the blob is sent from the content store in one PUT.
func (s *pushSession) upload(ctx context.Context, desc ocispec.Descriptor, m *meter) (mounted bool, err error) {
	u := s.url("blobs/uploads/")
	if s.from != "" {
		u += "?" + url.Values{"mount": {desc.Digest.String()}, "from": {s.from}}.Encode()
	}
	resp, err := s.do(ctx, http.MethodPost, u, nil, 0, nil, http.StatusCreated, http.StatusAccepted)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusCreated {
		return true, nil
	}
	loc, err := resp.Location()
	if err != nil {
		return false, fmt.Errorf("registry gave no upload location: %w", err)
	}
	q := loc.Query()
	q.Set("digest", desc.Digest.String())
	loc.RawQuery = q.Encode()
	blob, err := s.p.cs.Open(ctx, desc.Digest)
	if err != nil {
		return false, fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	defer blob.Close()
	var body io.Reader = blob
	if m != nil {
		body = &countingReader{r: blob, m: m}
	}
	resp, err = s.do(ctx, http.MethodPut, loc.String(), body, desc.Size, map[string]string{"Content-Type": "application/octet-stream"}, http.StatusCreated)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	if m != nil {
		m.flush()
	}
	return false, nil
}

func (s *pushSession) putManifest(ctx context.Context, tag, mediaType string, raw []byte) error {
	if mediaType == "" {
		mediaType = ocispec.MediaTypeImageManifest
	}
	resp, err := s.do(ctx, http.MethodPut, s.url("manifests/"+tag), bytes.NewReader(raw), int64(len(raw)),
		map[string]string{"Content-Type": mediaType}, http.StatusOK, http.StatusCreated, http.StatusAccepted)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// pushError turns a registry error into the message dockerd prints.
func (s *pushSession) pushError(err error) error {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return err
	}
	code := transport.ErrorCode("")
	msg := ""
	if len(terr.Errors) > 0 {
		code, msg = terr.Errors[0].Code, terr.Errors[0].Message
	}
	switch {
	case code == transport.UnauthorizedErrorCode || terr.StatusCode == http.StatusUnauthorized:
		if s.anon {
			return unauthorized("no basic auth credentials")
		}
		if msg == "" {
			msg = "authentication required"
		}
		return unauthorized("unauthorized: " + msg)
	case code == transport.DeniedErrorCode || terr.StatusCode == http.StatusForbidden:
		return errdefs.New(errdefs.ErrForbidden, "denied: requested access to the resource is denied")
	case msg != "":
		return fmt.Errorf("%s: %s", strings.ToLower(string(code)), msg)
	}
	return err
}
