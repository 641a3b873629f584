package daemon

import (
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"

	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/image"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Debian's qemu-user-static entry for aarch64 as binfmt_misc shows it.
const qemuAarch64Entry = `enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: POCF
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
`

func imageOf(os, arch, variant string) *image.Image {
	img := &image.Image{}
	img.Config.Platform = ocispec.Platform{OS: os, Architecture: arch, Variant: variant}
	return img
}

func TestCheckPlatform(t *testing.T) {
	if goruntime.GOARCH != "amd64" {
		t.Skip("the table assumes an amd64 host")
	}
	dir := t.TempDir()
	old := binfmtDir
	binfmtDir = dir
	t.Cleanup(func() { binfmtDir = old })
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("status", "enabled\n")
	write("register", "")

	arm64 := imageOf("linux", "arm64", "v8")
	// No handler: a clear error with both platforms and the package to install.
	err := checkPlatform(arm64, "busybox", "")
	for _, want := range []string{"image platform (linux/arm64) does not match the host platform (linux/amd64)", "qemu-user-static", "binfmt_misc"} {
		if !errdefs.IsInvalidParameter(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("no handler: %v, want %q", err, want)
		}
	}
	// A handler without the F flag cannot serve containers.
	write("qemu-aarch64", strings.Replace(qemuAarch64Entry, "flags: POCF", "flags: P", 1))
	if err := checkPlatform(arm64, "busybox", ""); err == nil || !strings.Contains(err.Error(), "lacks the F (fix binary) flag") {
		t.Errorf("no F flag: %v", err)
	}
	// Disabled.
	write("qemu-aarch64", strings.Replace(qemuAarch64Entry, "enabled", "disabled", 1))
	if err := checkPlatform(arm64, "busybox", ""); err == nil || !strings.Contains(err.Error(), "no binfmt_misc handler") {
		t.Errorf("disabled: %v", err)
	}
	// Enabled, under any name: matched by its magic.
	os.Remove(filepath.Join(dir, "qemu-aarch64"))
	write("aarch64-emulator", qemuAarch64Entry)
	for _, img := range []*image.Image{arm64, imageOf("linux", "aarch64", ""), imageOf("", "arm64", "")} {
		if err := checkPlatform(img, "busybox", ""); err != nil {
			t.Errorf("%+v with handler: %v", img.Config.Platform, err)
		}
	}
	// The aarch64 handler does not run arm/v7 or s390x.
	for _, img := range []*image.Image{imageOf("linux", "arm", "v7"), imageOf("linux", "s390x", "")} {
		if err := checkPlatform(img, "busybox", ""); err == nil || !strings.Contains(err.Error(), "no binfmt_misc handler for "+img.Config.Architecture) {
			t.Errorf("%s: %v", img.Config.Architecture, err)
		}
	}
	// Native images and 386 on amd64 need nothing.
	for _, img := range []*image.Image{imageOf("linux", "amd64", ""), imageOf("linux", "386", ""), imageOf("", "", "")} {
		if err := checkPlatform(img, "x", ""); err != nil {
			t.Errorf("%+v: %v", img.Config.Platform, err)
		}
	}
	if err := checkPlatform(imageOf("windows", "amd64", ""), "x", ""); err == nil || !strings.Contains(err.Error(), `image operating system "windows" cannot be used on this platform`) {
		t.Errorf("windows: %v", err)
	}
	// A requested platform the image does not have: NotFound, so that clients pull it.
	err = checkPlatform(imageOf("linux", "amd64", ""), "busybox", "linux/arm64")
	if !errdefs.IsNotFound(err) || err.Error() != "image with reference busybox was found but does not match the specified platform: wanted linux/arm64, actual: linux/amd64" {
		t.Errorf("requested arm64: %v", err)
	}
	for _, req := range []string{"linux/arm64", "linux/arm64/v8", "linux/aarch64"} {
		if err := checkPlatform(arm64, "busybox", req); err != nil {
			t.Errorf("requested %s: %v", req, err)
		}
	}
	if err := checkPlatform(imageOf("linux", "arm", "v6"), "busybox", "linux/arm/v7"); !errdefs.IsNotFound(err) {
		t.Errorf("arm/v6 for arm/v7: %v", err)
	}
	if err := checkPlatform(arm64, "busybox", "linux"); !errdefs.IsInvalidParameter(err) {
		t.Errorf("bad platform: %v", err)
	}
}

func TestBinfmtMatches(t *testing.T) {
	hdr := elfArches["arm64"].header()
	if ok, fixed := binfmtMatches(qemuAarch64Entry, hdr); !ok || !fixed {
		t.Errorf("aarch64 entry: %v %v", ok, fixed)
	}
	if ok, _ := binfmtMatches(qemuAarch64Entry, elfArches["riscv64"].header()); ok {
		t.Error("aarch64 entry matched riscv64")
	}
	if ok, _ := binfmtMatches("enabled\ninterpreter /usr/bin/java\nflags: \nextension .jar\n", hdr); ok {
		t.Error("extension entry matched")
	}
	// Offsets past the header never match.
	if ok, _ := binfmtMatches("enabled\noffset 30\nmagic 7f\n", hdr); ok {
		t.Error("offset past header matched")
	}
}
