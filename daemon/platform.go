package daemon

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-dev/berth/distribution"
	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/image"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// binfmtDir is where binfmt_misc is mounted; tests point it elsewhere.
var binfmtDir = "/proc/sys/fs/binfmt_misc"

// elfArch describes the ELF header of an architecture's executables and the name of
// its qemu-user emulator.
type elfArch struct {
	class   byte // 1: 32-bit, 2: 64-bit
	data    byte // 1: little endian, 2: big endian
	machine uint16
	qemu    string
}

var elfArches = map[string]elfArch{
	"amd64":    {2, 1, 62, "x86_64"},
	"386":      {1, 1, 3, "i386"},
	"arm64":    {2, 1, 183, "aarch64"},
	"arm":      {1, 1, 40, "arm"},
	"ppc64le":  {2, 1, 21, "ppc64le"},
	"s390x":    {2, 2, 22, "s390x"},
	"riscv64":  {2, 1, 243, "riscv64"},
	"mips64le": {2, 1, 8, "mips64el"},
	"loong64":  {2, 1, 258, "loongarch64"},
}

// header returns the first 20 bytes of an executable (ET_EXEC) of the architecture.
func (a elfArch) header() []byte {
	h := make([]byte, 20)
	copy(h, "\x7fELF")
	h[4], h[5], h[6] = a.class, a.data, 1
	var order binary.ByteOrder = binary.LittleEndian
	if a.data == 2 {
		order = binary.BigEndian
	}
	order.PutUint16(h[16:], 2)
	order.PutUint16(h[18:], a.machine)
	return h
}

// checkPlatform checks that a container can be created from img. When the client asked
// for a platform (requested, "os/arch[/variant]") and img is of another, the error is
// NotFound as in dockerd, so that clients pull the requested platform and retry. An
// image of a foreign architecture runs only when binfmt_misc has an enabled handler
// for it that works inside containers; otherwise the error names the image's
// platform, the host's and the package that provides handlers.
func checkPlatform(img *image.Image, ref, requested string) error {
	got := ocispec.Platform{OS: img.Config.OS, Architecture: img.Config.Architecture, Variant: img.Config.Variant}
	if got.OS == "" {
		got.OS = "linux"
	}
	if requested != "" {
		want, err := parsePlatform(requested)
		if err != nil {
			return err
		}
		if !distribution.PlatformMatches(want, got) {
			return errdefs.NotFound(fmt.Sprintf("image with reference %s was found but does not match the specified platform: wanted %s, actual: %s",
				ref, distribution.FormatPlatform(want), distribution.FormatPlatform(got)))
		}
	}
	if got.OS != "linux" {
		return errdefs.InvalidParameter(fmt.Sprintf("image operating system %q cannot be used on this platform: operating system is not supported", got.OS))
	}
	host := distribution.DefaultPlatform()
	if got.Architecture == "" || distribution.PlatformMatches(ocispec.Platform{OS: "linux", Architecture: host.Architecture}, got) ||
		(host.Architecture == "amd64" && got.Architecture == "386") {
		return nil
	}
	plat := distribution.FormatPlatform(got)
	mismatch := fmt.Sprintf("image platform (%s) does not match the host platform (%s)", plat, distribution.FormatPlatform(host))
	arch, known := elfArches[normalizedArch(got)]
	if !known {
		return errdefs.InvalidParameter(mismatch + " and Berth knows no emulator for it")
	}
	name, fixed, found := binfmtHandler(arch.header())
	switch {
	case !found:
		return errdefs.InvalidParameter(fmt.Sprintf("%s and no binfmt_misc handler for %s is registered: install Debian's qemu-user-static (apt-get install qemu-user-static binfmt-support) and make sure binfmt_misc is mounted at %s", mismatch, got.Architecture, binfmtDir))
	case !fixed:
		return errdefs.InvalidParameter(fmt.Sprintf("%s and the binfmt_misc handler %s lacks the F (fix binary) flag, without which it cannot run inside containers: register qemu-%s-static with flags F (Debian's qemu-user-static does so through binfmt-support)", mismatch, name, arch.qemu))
	}
	return nil
}

// normalizedArch returns p's architecture under its OCI name (aarch64 is arm64, ...).
func normalizedArch(p ocispec.Platform) string {
	for name := range elfArches {
		if distribution.PlatformMatches(ocispec.Platform{OS: p.OS, Architecture: name}, p) {
			return name
		}
	}
	return p.Architecture
}

// binfmtHandler finds an enabled binfmt_misc entry whose magic and mask match the
// executable header hdr, and reports whether it has the F flag.
func binfmtHandler(hdr []byte) (name string, fixed, found bool) {
	entries, err := os.ReadDir(binfmtDir)
	if err != nil {
		return "", false, false
	}
	for _, e := range entries {
		if e.Name() == "status" || e.Name() == "register" || e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(binfmtDir, e.Name()))
		if err != nil {
			continue
		}
		if ok, f := binfmtMatches(string(data), hdr); ok {
			if f {
				return e.Name(), true, true
			}
			name, found = e.Name(), true
		}
	}
	return name, false, found
}

// binfmtMatches parses one binfmt_misc entry ("enabled", "flags: F", "offset 0",
// "magic 7f45…", "mask ff…") and reports whether it is enabled and matches hdr, and
// whether it has the F flag.
func binfmtMatches(entry string, hdr []byte) (match, fixed bool) {
	var enabled bool
	var offset int
	var magic, mask []byte
	for _, line := range strings.Split(entry, "\n") {
		key, val, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch key {
		case "enabled":
			enabled = true
		case "flags:":
			fixed = strings.Contains(val, "F")
		case "offset":
			fmt.Sscan(val, &offset)
		case "magic":
			magic, _ = hex.DecodeString(val)
		case "mask":
			mask, _ = hex.DecodeString(val)
		}
	}
	if !enabled || len(magic) == 0 || offset < 0 || offset+len(magic) > len(hdr) {
		return false, false
	}
	got := bytes.Clone(hdr[offset : offset+len(magic)])
	want := bytes.Clone(magic)
	for i := range got {
		m := byte(0xff)
		if i < len(mask) {
			m = mask[i]
		}
		got[i] &= m
		want[i] &= m
	}
	return bytes.Equal(got, want), fixed
}
