// Package atomicfile writes files so that a crash leaves either the old or the new content.
package atomicfile

import (
	"os"
	"path/filepath"
)

// WriteFile writes data to a temp file in the same directory, fsyncs it, renames it
// over name and fsyncs the directory.
func WriteFile(name string, data []byte, perm os.FileMode) error {
	return write(name, data, perm, true)
}

// WriteFileNoSync is WriteFile without the fsyncs: still atomic against readers and
// process crashes, not against power loss. For runtime state under the exec root (tmpfs).
func WriteFileNoSync(name string, data []byte, perm os.FileMode) error {
	return write(name, data, perm, false)
}

func write(name string, data []byte, perm os.FileMode, sync bool) error {
	dir := filepath.Dir(name)
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		return err
	}
	ok = true
	if sync {
		return SyncDir(dir)
	}
	return nil
}

// SyncDir fsyncs a directory so that a rename inside it is durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
