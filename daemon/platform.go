package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"

	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/image"
)

// qemuArch maps OCI architectures to the names of Debian's qemu-user-static handlers.
var qemuArch = map[string]string{"arm64": "aarch64", "arm": "arm", "amd64": "x86_64", "386": "i386", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}

// checkPlatform refuses an image of another architecture unless binfmt_misc has an
// enabled handler for it, naming both platforms and the package that provides one.
func checkPlatform(img *image.Image) error {
	arch := img.Config.Architecture
	if arch == "" || arch == goruntime.GOARCH {
		return nil
	}
	if q, ok := qemuArch[arch]; ok && binfmtEnabled("/proc/sys/fs/binfmt_misc", "qemu-"+q) {
		return nil
	}
	plat := img.Config.OS + "/" + arch
	if img.Config.Variant != "" {
		plat += "/" + img.Config.Variant
	}
	return errdefs.InvalidParameter(fmt.Sprintf("image platform (%s) does not match the host platform (linux/%s) and no binfmt_misc handler for %s is registered: install Debian's qemu-user-static (and mount binfmt_misc at /proc/sys/fs/binfmt_misc)", plat, goruntime.GOARCH, arch))
}

func binfmtEnabled(dir, name string) bool {
	data, err := os.ReadFile(filepath.Join(dir, name))
	return err == nil && strings.HasPrefix(string(data), "enabled")
}
