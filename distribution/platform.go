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

// PlatformMatches reports whether an image of platform got satisfies a request for
// want: same OS and architecture (aliases such as aarch64 or x86_64 normalized), and
// the same variant when want names one.
func PlatformMatches(want, got ocispec.Platform) bool {
	wantVariant := want.Variant != ""
	want, got = normalizePlatform(want), normalizePlatform(got)
	return want.OS == got.OS && want.Architecture == got.Architecture && (!wantVariant || want.Variant == got.Variant)
}

// FormatPlatform returns os/arch[/variant], normalized (aarch64 and arm64/v8 are linux/arm64).
func FormatPlatform(p ocispec.Platform) string { return platformString(normalizePlatform(p)) }
