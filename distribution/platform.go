package distribution

import (
	"fmt"
	"runtime"

	"github.com/berth-dev/berth/errdefs"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// DefaultPlatform is the host's platform.
func DefaultPlatform() ocispec.Platform {
	return normalizePlatform(ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH})
}

func normalizePlatform(p ocispec.Platform) ocispec.Platform {
	switch p.Architecture {
	case "aarch64":
		p.Architecture = "arm64"
	case "x86_64", "x86-64":
		p.Architecture = "amd64"
	case "armhf":
		p.Architecture, p.Variant = "arm", "v7"
	case "armel":
		p.Architecture, p.Variant = "arm", "v6"
	}
	switch {
	case p.Architecture == "arm64" && (p.Variant == "8" || p.Variant == "v8"):
		p.Variant = ""
	case p.Architecture == "arm" && p.Variant == "":
		p.Variant = "v7"
	case p.Architecture == "arm" && len(p.Variant) == 1:
		p.Variant = "v" + p.Variant
	}
	return p
}

func platformString(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// choose picks the manifest for want from an index: OS and architecture must match; a
// requested variant must match, otherwise the default variant wins over others.
func choose(idx *v1.IndexManifest, want ocispec.Platform) (v1.Descriptor, error) {
	want = normalizePlatform(want)
	best, score := -1, 0
	for i, m := range idx.Manifests {
		if m.Platform == nil || !m.MediaType.IsImage() {
			continue
		}
		got := normalizePlatform(ocispec.Platform{OS: m.Platform.OS, Architecture: m.Platform.Architecture, Variant: m.Platform.Variant})
		if got.OS != want.OS || got.Architecture != want.Architecture {
			continue
		}
		s := 1
		switch {
		case got.Variant == want.Variant:
			s = 3
		case want.Variant != "" && want.Architecture == "arm":
			continue
		case want.Variant != "":
			s = 2
		}
		if s > score {
			best, score = i, s
		}
	}
	if best < 0 {
		return v1.Descriptor{}, errdefs.NotFound(fmt.Sprintf("no matching manifest for %s in the manifest list entries", platformString(want)))
	}
	return idx.Manifests[best], nil
}
