package runtime

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/berth-dev/berth/errdefs"
)

// initNames are the init binaries FindInit looks for, in order.
var initNames = []string{"berth-init", "docker-init", "tini-static"}

// FindInit returns the path of a static init binary for --init: berth-init,
// docker-init or tini-static beside the running executable, on PATH, or in
// /usr/bin (Debian's tini package ships /usr/bin/tini-static).
func FindInit() (string, error) {
	var dirs []string
	if self, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(self))
	}
	for _, name := range initNames {
		for _, d := range dirs {
			if p, ok := staticExecutable(filepath.Join(d, name)); ok {
				return p, nil
			}
		}
		if p, err := exec.LookPath(name); err == nil {
			if p, ok := staticExecutable(p); ok {
				return p, nil
			}
		}
		if p, ok := staticExecutable(filepath.Join("/usr/bin", name)); ok {
			return p, nil
		}
	}
	return "", errdefs.NotFound("no static init binary found (looked for berth-init, docker-init, tini-static): install Debian's tini package")
}

// staticExecutable resolves path and reports whether it is a statically linked
// ELF executable, the only kind that runs in any image.
func staticExecutable(path string) (string, bool) {
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", false
	}
	p, err = filepath.Abs(p)
	if err != nil {
		return "", false
	}
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
		return "", false
	}
	f, err := elf.Open(p)
	if err != nil {
		return "", false
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return "", false
		}
	}
	return p, true
}
