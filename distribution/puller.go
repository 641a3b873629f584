package distribution

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/keylock"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/berth-dev/berth/archive"
	"github.com/berth-dev/berth/content"
	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/image"
	"github.com/berth-dev/berth/snapshot"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/jsonstream"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Options configure a Puller.
type Options struct {
	Mirrors  []string // docker.io mirrors tried in order before Docker Hub, e.g. "http://127.0.0.1:5000"
	Insecure []string // registries (host[:port] or CIDR) that may be reached over plain HTTP
	// Hub replaces Docker Hub (registry-1.docker.io) as the last endpoint of docker.io
	// references; NoHub drops it, so that only the mirrors are asked.
	Hub   string
	NoHub bool
	// Keychain supplies registry credentials; nil is anonymous.
	Keychain authn.Keychain
	// Concurrency is the number of layers downloaded at once (default 3).
	Concurrency int
	// MirrorsByHost lists mirrors of any registry by its host[:port], tried in order
	// before the registry itself ("quay.io": {"http://127.0.0.1:5000"}); the entry
	// of "docker.io" comes after Mirrors.
	MirrorsByHost map[string][]string
	// HubSearch replaces Docker Hub's search API (https://index.docker.io/v1/search).
	HubSearch string
}

// Puller pulls images into the local stores. It is safe for concurrent use.
type Puller struct {
	store  *image.Store
	cs     *content.Store
	sn     snapshot.Snapshotter
	opts   Options
	secure http.RoundTripper
	noTLS  http.RoundTripper // TLS without verification, for insecure registries
}

// NewPuller returns a Puller that stores into store, cs and sn.
func NewPuller(store *image.Store, cs *content.Store, sn snapshot.Snapshotter, opts Options) *Puller {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 3
	}
	base := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          32,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ReadBufferSize:        256 << 10,
	}
	noTLS := base.Clone()
	noTLS.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	return &Puller{store: store, cs: cs, sn: sn, opts: opts, secure: base, noTLS: noTLS}
}

// LabelSize is the snapshot label holding a layer's uncompressed size in bytes.
const LabelSize = "berth.size"

// resolved is a manifest found on one endpoint.
type resolved struct {
	ep        endpoint
	client    *http.Client
	top       *remote.Descriptor // what the reference points at (index or manifest)
	manifest  []byte
	mDigest   digest.Digest
	mediaType types.MediaType
	fromIndex bool // chosen from an index for the requested platform
}

// Pull pulls ref for platform (nil: the host's) and returns the stored image.
func (p *Puller) Pull(ctx context.Context, ref string, platform *ocispec.Platform, progress func(jsonstream.Message)) (*image.Image, error) {
	named, err := image.ParseRef(ref)
	if err != nil {
		return nil, err
	}
	out := &output{fn: progress}
	want := DefaultPlatform()
	if platform != nil {
		want = *platform
	}
	eps, err := p.endpoints(named)
	if err != nil {
		return nil, errdefs.InvalidParameter(err.Error())
	}
	var res *resolved
	var errs []error
	for _, ep := range eps {
		res, err = p.resolve(ctx, ep, named, want)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		errs = append(errs, err)
	}
	if res == nil {
		return nil, pullError(named, errs)
	}
	tagOrDigest := ""
	if t, ok := named.(reference.Tagged); ok {
		tagOrDigest = t.Tag()
	} else if c, ok := named.(reference.Canonical); ok {
		tagOrDigest = c.Digest().String()
	}
	out.send(jsonstream.Message{ID: tagOrDigest, Status: "Pulling from " + reference.Path(named)})
	img, err := p.pullManifest(ctx, res, named, platform, out)
	if err != nil {
		return nil, err
	}

	refs := []reference.Named{named}
	topDigest := digest.Digest(res.top.Digest.String())
	if _, ok := named.(reference.Canonical); !ok {
		c, err := reference.WithDigest(reference.TrimNamed(named), topDigest)
		if err != nil {
			return nil, err
		}
		refs = append(refs, c)
	}
	upToDate := false
	if old, err := p.store.Get(ctx, named.String()); err == nil && old.ID == img.ID {
		upToDate = true
	}
	if err := p.store.Put(ctx, img, refs...); err != nil {
		return nil, err
	}
	out.status("", "Digest: "+topDigest.String())
	if upToDate {
		out.status("", "Status: Image is up to date for "+reference.FamiliarString(named))
	} else {
		out.status("", "Status: Downloaded newer image for "+reference.FamiliarString(named))
	}
	return p.store.Get(ctx, img.ID)
}

// pullError turns the errors of every endpoint into the error Docker would report.
func pullError(named reference.Named, errs []error) error {
	var notFound error
	for _, err := range errs {
		var terr *transport.Error
		if !errors.As(err, &terr) {
			if errdefs.IsNotFound(err) {
				notFound = err
			}
			continue
		}
		code := transport.ErrorCode("")
		if len(terr.Errors) > 0 {
			code = terr.Errors[0].Code
		}
		switch {
		case code == transport.ManifestUnknownErrorCode:
			return errdefs.NotFound(fmt.Sprintf("manifest for %s not found: manifest unknown: manifest unknown", reference.FamiliarString(named)))
		case code == transport.NameUnknownErrorCode || code == transport.DeniedErrorCode || code == transport.UnauthorizedErrorCode ||
			terr.StatusCode == http.StatusNotFound || terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden:
			if notFound == nil {
				notFound = errdefs.NotFound(fmt.Sprintf("pull access denied for %s, repository does not exist or may require 'docker login'", reference.FamiliarName(named)))
			}
		}
	}
	if notFound != nil {
		return notFound
	}
	if len(errs) == 0 {
		return errdefs.NotFound("no registry to pull " + reference.FamiliarString(named) + " from")
	}
	return errs[len(errs)-1]
}

func (p *Puller) client(ctx context.Context, ep endpoint) (*http.Client, error) {
	base := p.secure
	if ep.insecure {
		base = p.noTLS
	}
	auth, err := p.authenticator(ctx, ep.repo.Registry)
	if err != nil {
		return nil, err
	}
	tr, err := transport.NewWithContext(ctx, ep.repo.Registry, auth, base, []string{ep.repo.Scope(transport.PullScope)})
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: tr}, nil
}

// resolve finds the manifest of named for want on ep.
func (p *Puller) resolve(ctx context.Context, ep endpoint, named reference.Named, want ocispec.Platform) (*resolved, error) {
	c, err := p.client(ctx, ep)
	if err != nil {
		return nil, err
	}
	var ident string
	if cn, ok := named.(reference.Canonical); ok {
		ident = cn.Digest().String()
	} else {
		ident = named.(reference.Tagged).Tag()
	}
	top, err := getManifest(ctx, c, ep.repo, ident)
	if err != nil {
		return nil, err
	}
	res := &resolved{ep: ep, client: c, top: top, manifest: top.Manifest, mDigest: digest.Digest(top.Digest.String()), mediaType: top.MediaType}
	switch {
	case top.MediaType.IsIndex():
		idx, err := v1.ParseIndexManifest(bytes.NewReader(top.Manifest))
		if err != nil {
			return nil, fmt.Errorf("parse manifest list: %w", err)
		}
		d, err := choose(idx, want)
		if err != nil {
			return nil, err
		}
		m, err := getManifest(ctx, c, ep.repo, d.Digest.String())
		if err != nil {
			return nil, err
		}
		if err := checkIndexEntry(d, m); err != nil {
			return nil, err
		}
		res.manifest, res.mDigest, res.mediaType, res.fromIndex = m.Manifest, digest.Digest(m.Digest.String()), m.MediaType, true
	case top.MediaType.IsSchema1():
		return nil, errdefs.InvalidParameter("Docker Image Format v1 and Docker Image manifest version 2, schema 1 are not supported: " + reference.FamiliarString(named))
	}
	if !res.mediaType.IsImage() {
		return nil, errdefs.InvalidParameter(fmt.Sprintf("%s is not an image (media type %s)", reference.FamiliarString(named), res.mediaType))
	}
	return res, nil
}

// layerJob is one layer of the image being pulled.
type layerJob struct {
	desc  v1.Descriptor
	id    string // 12-hex short id for progress
	chain string
	diff  digest.Digest
	size  int64      // uncompressed
	have  bool       // snapshot already present
	done  chan error // download result
	// Set while unpacking.
	unpacked chan error
	key      string // uncommitted snapshot holding the unpacked layer
	unlock   func() // releases the chain lock once committed
}

func (p *Puller) pullManifest(ctx context.Context, res *resolved, named reference.Named, platform *ocispec.Platform, out *output) (*image.Image, error) {
	m, err := v1.ParseManifest(bytes.NewReader(res.manifest))
	if err != nil {
		return nil, errdefs.InvalidParameter("invalid manifest: " + err.Error())
	}
	if err := checkManifest(m); err != nil {
		return nil, err
	}
	configDigest := digest.Digest(m.Config.Digest.String())
	if err := p.fetchBlob(ctx, res, m.Config, nil); err != nil {
		return nil, fmt.Errorf("fetch image config: %w", err)
	}
	raw, err := content.ReadBlob(ctx, p.cs, configDigest)
	if err != nil {
		return nil, err
	}
	var cfg dockerspec.DockerOCIImage
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("parse image config: %w", err)
	}
	if platform != nil && !res.fromIndex {
		want, got := normalizePlatform(*platform), normalizePlatform(cfg.Platform)
		if want.OS != got.OS || want.Architecture != got.Architecture || (want.Variant != "" && want.Variant != got.Variant) {
			return nil, errdefs.NotFound(fmt.Sprintf("image with reference %s was found but does not match the specified platform: wanted %s, actual: %s",
				reference.FamiliarString(named), platformString(want), platformString(got)))
		}
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("invalid image: %d layers but %d diff IDs", len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	// Manifests are kept so that the image can be pushed or saved as pulled.
	if err := content.Ingest(ctx, p.cs, digest.Digest(res.top.Digest.String()), int64(len(res.top.Manifest)), bytes.NewReader(res.top.Manifest)); err != nil {
		return nil, err
	}
	if err := content.Ingest(ctx, p.cs, res.mDigest, int64(len(res.manifest)), bytes.NewReader(res.manifest)); err != nil {
		return nil, err
	}

	chains := image.ChainIDs(cfg.RootFS.DiffIDs)
	img := &image.Image{
		ID:             configDigest.String(),
		Config:         cfg,
		ChainIDs:       chains,
		ManifestDigest: res.mDigest.String(),
	}
	if cfg.Created != nil {
		img.Created = *cfg.Created
	}
	jobs := make([]*layerJob, len(m.Layers))
	complete := true
	for i, l := range m.Layers {
		j := &layerJob{desc: l, id: l.Digest.Hex[:12], chain: chains[i], diff: cfg.RootFS.DiffIDs[i], done: make(chan error, 1)}
		if info, err := p.sn.Stat(ctx, j.chain); err == nil {
			j.have = true
			j.size, _ = strconv.ParseInt(info.Labels[LabelSize], 10, 64)
		} else {
			complete = false
		}
		jobs[i] = j
	}
	if !complete || !p.exists(ctx, img.ID) {
		if err := p.pullLayers(ctx, res, jobs, out); err != nil {
			return nil, err
		}
	}
	// Layers unpacked from elsewhere (docker load) still need their blobs: the stored
	// manifest names them, for save and push.
	for _, j := range jobs {
		if !p.cs.Exists(ctx, digest.Digest(j.desc.Digest.String())) {
			if err := p.fetchBlob(ctx, res, j.desc, nil); err != nil {
				return nil, fmt.Errorf("layer %s: %w", j.desc.Digest, err)
			}
		}
	}
	for _, j := range jobs {
		img.Size += j.size
	}
	return img, nil
}

func (p *Puller) exists(ctx context.Context, id string) bool {
	_, err := p.store.Get(ctx, id)
	return err == nil
}

// pullLayers downloads the missing layers (Concurrency at a time), unpacks each into
// a snapshot of its own as soon as it is there (unpackers at a time) and commits them
// bottom to top, each on the one below.
func (p *Puller) pullLayers(ctx context.Context, res *resolved, jobs []*layerJob, out *output) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var todo []*layerJob
	for _, j := range jobs {
		if j.have {
			out.status(j.id, "Already exists")
			continue
		}
		out.status(j.id, "Pulling fs layer")
		j.unpacked = make(chan error, 1)
		todo = append(todo, j)
	}
	for i, j := range todo {
		if i >= p.opts.Concurrency {
			out.status(j.id, "Waiting")
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	pool := func(n int, fn func(*layerJob)) {
		queue := make(chan *layerJob, len(todo))
		for _, j := range todo {
			queue <- j
		}
		close(queue)
		for range min(n, len(todo)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range queue {
					fn(j)
				}
			}()
		}
	}
	pool(p.opts.Concurrency, func(j *layerJob) { j.done <- p.download(ctx, res, j, out) })
	pool(unpackers, func(j *layerJob) {
		select {
		case err := <-j.done:
			if err != nil {
				j.unpacked <- err
				return
			}
			j.unpacked <- p.unpack(ctx, j, out)
		case <-ctx.Done():
			j.unpacked <- ctx.Err()
		}
	})
	// Release what an unpacker holds when a lower layer failed.
	defer func() {
		for _, j := range todo {
			if j.unlock != nil {
				p.sn.Remove(context.WithoutCancel(ctx), j.key)
				j.unlock()
			}
		}
	}()
	for i, j := range jobs {
		if j.have {
			continue
		}
		var err error
		select {
		case err = <-j.unpacked:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err == nil {
			err = p.commit(ctx, j, jobs, i)
		}
		if err != nil {
			cancel()
			wg.Wait()
			return err
		}
		out.status(j.id, "Pull complete")
	}
	return nil
}

// unpackers is the number of layers unpacked at once.
const unpackers = 2

func (p *Puller) download(ctx context.Context, res *resolved, j *layerJob, out *output) error {
	if p.cs.Exists(ctx, digest.Digest(j.desc.Digest.String())) {
		out.status(j.id, "Download complete")
		return nil
	}
	m := &meter{out: out, id: j.id, status: "Downloading", total: j.desc.Size}
	if err := p.fetchBlob(ctx, res, j.desc, m); err != nil {
		return fmt.Errorf("layer %s: %w", j.desc.Digest, err)
	}
	out.status(j.id, "Download complete")
	return nil
}

// fetchBlob streams a blob from the registry into the content store, verifying size
// and digest; m (may be nil) sees the progress.
func (p *Puller) fetchBlob(ctx context.Context, res *resolved, desc v1.Descriptor, m *meter) error {
	dgst := digest.Digest(desc.Digest.String())
	w, err := p.cs.Writer(ctx, dgst, desc.Size)
	if errors.Is(err, content.ErrExists) {
		return nil
	}
	if err != nil {
		return err
	}
	defer w.Close()
	reg := res.ep.repo.Registry
	u := fmt.Sprintf("%s://%s/v2/%s/blobs/%s", reg.Scheme(), reg.RegistryStr(), res.ep.repo.RepositoryStr(), dgst)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := res.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return err
	}
	var r io.Reader = resp.Body
	if m != nil {
		r = &countingReader{r: resp.Body, m: m}
	}
	buf := make([]byte, 256<<10)
	if _, err := io.CopyBuffer(w, struct{ io.Reader }{r}, buf); err != nil {
		return err
	}
	if m != nil {
		m.flush()
		m.out.status(m.id, "Verifying Checksum")
	}
	return w.Commit(ctx)
}

// chainLocks serialises unpacking of one chain ID within the process.
var chainLocks keylock.Locks[string]

// unpack applies the layer blob into a new snapshot of its own and checks its DiffID.
// On success it leaves j.key uncommitted and the chain lock held (j.unlock), unless a
// concurrent pull committed the layer meanwhile.
func (p *Puller) unpack(ctx context.Context, j *layerJob, out *output) (err error) {
	unlock, err := chainLocks.Lock(ctx, j.chain)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil || j.key == "" {
			unlock()
		} else {
			j.unlock = unlock
		}
	}()
	if info, err := p.sn.Stat(ctx, j.chain); err == nil {
		j.size, _ = strconv.ParseInt(info.Labels[LabelSize], 10, 64)
		return nil
	}
	key := "extract-" + j.chain
	if err := p.sn.Remove(ctx, key); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	mounts, err := p.sn.Prepare(ctx, key, "", snapshot.WithLabels(map[string]string{snapshot.LabelTemporary: "1"}))
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			p.sn.Remove(context.WithoutCancel(ctx), key)
		}
	}()
	dir, err := snapshot.WritableDir(mounts)
	if err != nil {
		return err
	}
	blob, err := p.cs.Open(ctx, digest.Digest(j.desc.Digest.String()))
	if err != nil {
		return err
	}
	defer blob.Close()
	m := &meter{out: out, id: j.id, status: "Extracting", total: j.desc.Size}
	res, err := archive.Apply(ctx, dir, &countingReader{r: blob, m: m}, archive.Options{})
	if err != nil {
		return fmt.Errorf("extract layer %s: %w", j.desc.Digest, err)
	}
	m.flush()
	if res.DiffID != j.diff {
		return fmt.Errorf("layer %s: DiffID mismatch: the image config says %s, the layer is %s", j.desc.Digest, j.diff, res.DiffID)
	}
	j.size, j.key = res.Size, key
	return nil
}

// commit stacks unpacked layer i on the layer below and commits it under its chain ID.
func (p *Puller) commit(ctx context.Context, j *layerJob, jobs []*layerJob, i int) error {
	if j.key == "" {
		return nil // committed by a concurrent pull
	}
	parent := ""
	if i > 0 {
		parent = jobs[i-1].chain
	}
	err := p.sn.Commit(ctx, j.chain, j.key, snapshot.WithParent(parent),
		snapshot.WithLabels(map[string]string{LabelSize: strconv.FormatInt(j.size, 10)}))
	if err != nil {
		return err
	}
	j.unlock()
	j.unlock = nil
	return nil
}
