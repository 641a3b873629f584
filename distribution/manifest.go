package distribution

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/berth-dev/berth/errdefs"
	"github.com/docker/go-units"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	digest "github.com/opencontainers/go-digest"
)

// Limits on what a registry may claim; beyond them a manifest is refused before
// anything is downloaded.
const (
	maxManifestSize = 4 << 20  // bytes of a manifest or index, as containerd allows
	maxConfigSize   = 32 << 20 // bytes of an image config, which is read into memory
	maxLayerSize    = 1 << 40  // bytes of one compressed layer
	maxLayers       = 500      // layers of one image (overlayfs stacks far fewer)
)

// manifestAccept is the Accept header of manifest requests.
var manifestAccept = strings.Join([]string{
	string(types.OCIImageIndex), string(types.DockerManifestList),
	string(types.OCIManifestSchema1), string(types.DockerManifestSchema2),
	string(types.DockerManifestSchema1Signed), string(types.DockerManifestSchema1),
}, ", ")

// knownLayerTypes are the layer media types Berth can unpack.
var knownLayerTypes = map[types.MediaType]bool{
	types.DockerLayer: true, types.DockerForeignLayer: true, types.DockerUncompressedLayer: true,
	types.OCILayer: true, types.OCILayerZStd: true, types.OCIUncompressedLayer: true,
	types.OCIRestrictedLayer: true, types.OCIUncompressedRestrictedLayer: true,
}

// getManifest fetches the manifest or index that ident (a tag or digest) names in repo,
// refusing one larger than maxManifestSize, and checks its digest against the one
// asked for and the one the registry announces.
func getManifest(ctx context.Context, c *http.Client, repo name.Repository, ident string) (*remote.Descriptor, error) {
	reg := repo.Registry
	u := url.URL{Scheme: reg.Scheme(), Host: reg.RegistryStr(), Path: fmt.Sprintf("/v2/%s/manifests/%s", repo.RepositoryStr(), ident)}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", manifestAccept)
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return nil, err
	}
	where := repo.Name() + ":" + ident
	if strings.HasPrefix(ident, "sha256:") {
		where = repo.Name() + "@" + ident
	}
	if resp.ContentLength > maxManifestSize {
		return nil, manifestTooLarge(where, resp.ContentLength)
	}
	body, err := readAllLimit(resp.Body, maxManifestSize)
	if errors.Is(err, errTooLarge) {
		return nil, manifestTooLarge(where, -1)
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", where, err)
	}
	got := digest.FromBytes(body)
	if want, err := digest.Parse(ident); err == nil && want != got {
		return nil, errdefs.InvalidParameter(fmt.Sprintf("manifest %s: digest mismatch: the registry sent content with digest %s", where, got))
	}
	if h := resp.Header.Get("Docker-Content-Digest"); h != "" {
		if want, err := digest.Parse(h); err == nil && want.Algorithm() == got.Algorithm() && want != got {
			return nil, errdefs.InvalidParameter(fmt.Sprintf("manifest %s: digest mismatch: the registry announced %s but sent content with digest %s", where, want, got))
		}
	}
	mt, err := manifestMediaType(resp.Header.Get("Content-Type"), body)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", where, err)
	}
	h, err := v1.NewHash(got.String())
	if err != nil {
		return nil, err
	}
	return &remote.Descriptor{Descriptor: v1.Descriptor{MediaType: mt, Size: int64(len(body)), Digest: h}, Manifest: body}, nil
}

func manifestTooLarge(where string, n int64) error {
	size := "more than 4 MiB"
	if n > 0 {
		size = units.BytesSize(float64(n))
	}
	return errdefs.InvalidParameter(fmt.Sprintf("manifest %s is too large (%s): the limit is 4 MiB", where, size))
}

// manifestMediaType decides a manifest's media type from the Content-Type header and
// the document's own mediaType field, which must not contradict each other.
func manifestMediaType(header string, body []byte) (types.MediaType, error) {
	var doc struct {
		MediaType     types.MediaType `json:"mediaType"`
		SchemaVersion int             `json:"schemaVersion"`
		Manifests     json.RawMessage `json:"manifests"`
		Config        json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", errdefs.InvalidParameter("invalid manifest: " + err.Error())
	}
	hdr, _, _ := mime.ParseMediaType(header)
	ht := types.MediaType(hdr)
	known := func(t types.MediaType) bool { return t.IsIndex() || t.IsImage() || t.IsSchema1() }
	switch {
	case known(ht) && doc.MediaType != "" && doc.MediaType != ht:
		return "", errdefs.InvalidParameter(fmt.Sprintf("manifest media type mismatch: the registry says %s, the manifest says %s", ht, doc.MediaType))
	case known(ht):
		return ht, nil
	case doc.MediaType != "":
		return doc.MediaType, nil
	case doc.SchemaVersion == 1:
		return types.DockerManifestSchema1, nil
	case doc.Manifests != nil:
		return types.OCIImageIndex, nil
	case doc.Config != nil:
		return types.OCIManifestSchema1, nil
	}
	return "", errdefs.InvalidParameter(fmt.Sprintf("unknown manifest media type %q", hdr))
}

// checkManifest refuses an image manifest Berth must not act on: configs that are not
// image configs, unknown layer types, absurd sizes, malformed digests and foreign
// URLs that are not plain http(s) addresses (Berth fetches every blob from the
// registry by digest and never follows them).
func checkManifest(m *v1.Manifest) error {
	switch m.Config.MediaType {
	case types.DockerConfigJSON, types.OCIConfigJSON, "":
	default:
		return errdefs.InvalidParameter(fmt.Sprintf("unsupported image config media type %q: this is not a container image", m.Config.MediaType))
	}
	if err := checkDescriptor("image config", m.Config, maxConfigSize); err != nil {
		return err
	}
	if len(m.Layers) > maxLayers {
		return errdefs.InvalidParameter(fmt.Sprintf("invalid manifest: %d layers, at most %d are supported", len(m.Layers), maxLayers))
	}
	for i, l := range m.Layers {
		what := fmt.Sprintf("layer %d (%s)", i+1, l.Digest)
		if !knownLayerTypes[l.MediaType] {
			return errdefs.InvalidParameter(fmt.Sprintf("%s: unsupported layer media type %q", what, l.MediaType))
		}
		if err := checkDescriptor(what, l, maxLayerSize); err != nil {
			return err
		}
	}
	return nil
}

func checkDescriptor(what string, d v1.Descriptor, limit int64) error {
	if err := digest.Digest(d.Digest.String()).Validate(); err != nil {
		return errdefs.InvalidParameter(fmt.Sprintf("invalid manifest: %s: invalid digest %q: %v", what, d.Digest, err))
	}
	if d.Size < 0 || d.Size > limit {
		return errdefs.InvalidParameter(fmt.Sprintf("invalid manifest: %s claims a size of %d bytes (%s); the limit is %s",
			what, d.Size, units.BytesSize(float64(max(d.Size, 0))), units.BytesSize(float64(limit))))
	}
	for _, raw := range d.URLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Contains(u.Path, "..") || strings.Contains(raw, "\\") {
			return errdefs.InvalidParameter(fmt.Sprintf("invalid manifest: %s has a forbidden URL %q: only http(s) URLs without \"..\" are allowed", what, raw))
		}
	}
	return nil
}

// checkIndexEntry refuses an index entry whose size is absurd or does not match the
// manifest fetched for it.
func checkIndexEntry(d v1.Descriptor, got *remote.Descriptor) error {
	if d.Size != got.Size {
		return errdefs.InvalidParameter(fmt.Sprintf("manifest %s: size mismatch: the index says %d bytes, the registry sent %d", d.Digest, d.Size, got.Size))
	}
	return nil
}

var errTooLarge = errors.New("response too large")

// readAllLimit reads r whole, failing with errTooLarge when it holds more than limit bytes.
func readAllLimit(r io.Reader, limit int64) ([]byte, error) {
	var b bytes.Buffer
	n, err := b.ReadFrom(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fmt.Errorf("%w: more than %s", errTooLarge, units.BytesSize(float64(limit)))
	}
	return b.Bytes(), nil
}
