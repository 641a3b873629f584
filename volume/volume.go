package volume

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/metadata"
	"golang.org/x/sys/unix"
)

const bucket = "volumes"

// DriverLocal is the only volume driver.
const DriverLocal = "local"

var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// Volume is one volume's record.
type Volume struct {
	Name      string
	Driver    string
	CreatedAt time.Time
	Labels    map[string]string `json:",omitempty"`
	Options   map[string]string `json:",omitempty"` // local driver: type, device, o
	Anonymous bool              `json:",omitempty"`
}

// Store keeps the volumes; safe for concurrent use.
type Store struct {
	root string
	db   *metadata.DB

	mu     sync.Mutex
	vols   map[string]*Volume
	mounts map[string]int // users of mounted (type/device) volumes
}

// New opens the store at root (<data-root>/volumes).
func New(root string, db *metadata.DB) (*Store, error) {
	if err := os.MkdirAll(root, 0o701); err != nil {
		return nil, err
	}
	recs, err := metadata.List[Volume](db, bucket)
	if err != nil {
		return nil, fmt.Errorf("load volumes: %w", err)
	}
	s := &Store{root: root, db: db, vols: map[string]*Volume{}, mounts: map[string]int{}}
	for i := range recs {
		s.vols[recs[i].Name] = &recs[i]
	}
	return s, nil
}

// Path is where a volume's data is (and where a type/device volume is mounted).
func (s *Store) Path(name string) string { return filepath.Join(s.root, name, "_data") }

// ValidateName checks a volume name as dockerd does.
func ValidateName(name string) error {
	if !validName.MatchString(name) {
		return errdefs.InvalidParameter(fmt.Sprintf("create %s: %q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path", name, name))
	}
	return nil
}

// CheckDriver refuses drivers other than local with dockerd's message.
func CheckDriver(driver string) error {
	if driver != "" && driver != DriverLocal {
		return errdefs.NotFound(fmt.Sprintf("error looking up volume plugin %s: plugin %q not found", driver, driver))
	}
	return nil
}

func validateOptions(opts map[string]string) error {
	for k := range opts {
		switch k {
		case "type", "device", "o", "size":
		default:
			return errdefs.InvalidParameter(fmt.Sprintf("invalid option: %q", k))
		}
	}
	if opts["size"] != "" {
		return errdefs.InvalidParameter("quota size requested but no quota support")
	}
	if (opts["type"] == "") != (opts["device"] == "") && opts["type"] != "tmpfs" {
		return errdefs.InvalidParameter("missing required option: \"type\" and \"device\" go together")
	}
	if opts["o"] != "" && opts["type"] == "" {
		return errdefs.InvalidParameter("missing required option: \"type\"")
	}
	return nil
}

// NewName returns a random name for an anonymous volume.
func NewName() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Create makes a volume, or returns the existing one of that name (created false), as
// dockerd does; labels and options of an existing volume must not conflict.
func (s *Store) Create(name, driver string, labels, opts map[string]string, anonymous bool) (v *Volume, created bool, err error) {
	if err := CheckDriver(driver); err != nil {
		return nil, false, err
	}
	if name == "" {
		name, anonymous = NewName(), true
	}
	if err := ValidateName(name); err != nil {
		return nil, false, err
	}
	if err := validateOptions(opts); err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.vols[name]; ok {
		if len(opts) > 0 && !sameMap(opts, v.Options) {
			return nil, false, errdefs.Conflict(fmt.Sprintf("volume name %s already exists with other options", name))
		}
		return v, false, nil
	}
	v = &Volume{Name: name, Driver: DriverLocal, CreatedAt: time.Now().UTC(), Labels: labels, Options: opts, Anonymous: anonymous}
	if err := os.MkdirAll(s.Path(name), 0o755); err != nil {
		return nil, false, err
	}
	if err := s.db.Put(bucket, name, v); err != nil {
		os.RemoveAll(filepath.Join(s.root, name))
		return nil, false, err
	}
	s.vols[name] = v
	return v, true, nil
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Get returns a volume by name.
func (s *Store) Get(name string) (*Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.vols[name]; ok {
		return v, nil
	}
	return nil, errdefs.NotFound("get " + name + ": no such volume")
}

// List returns the volumes sorted by name.
func (s *Store) List() []*Volume {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Volume, 0, len(s.vols))
	for _, v := range s.vols {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Remove deletes a volume and its data; the caller checks that no container uses it.
// The record goes last, so a crash in between leaves a volume that rm can remove again.
func (s *Store) Remove(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.vols[name]; !ok {
		return errdefs.NotFound("get " + name + ": no such volume")
	}
	if s.mounts[name] > 0 {
		return errdefs.Conflict(fmt.Sprintf("remove %s: volume is in use", name))
	}
	unix.Unmount(s.Path(name), unix.MNT_DETACH) // a mount left by a crash
	if err := os.RemoveAll(filepath.Join(s.root, name)); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	if err := s.db.Delete(bucket, name); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return err
	}
	delete(s.vols, name)
	return nil
}

// Mount makes a volume's data available at Path and returns it: for a volume with
// type/device options the file system is mounted by the first user.
func (s *Store) Mount(name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vols[name]
	if !ok {
		return "", errdefs.NotFound("get " + name + ": no such volume")
	}
	p := s.Path(name)
	if v.Options["type"] == "" {
		return p, nil
	}
	if s.mounts[name] == 0 {
		dev := v.Options["device"]
		if dev == "" {
			dev = v.Options["type"]
		}
		if err := unix.Mount(dev, p, v.Options["type"], 0, v.Options["o"]); err != nil {
			return "", fmt.Errorf("error while mounting volume '%s': failed to mount local volume: mount %s:%s, data: %s: %w", p, dev, p, v.Options["o"], err)
		}
	}
	s.mounts[name]++
	return p, nil
}

// Retain counts one more user of a volume that is already mounted (a running container
// found again after a berthd restart).
func (s *Store) Retain(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.vols[name]; ok && v.Options["type"] != "" {
		s.mounts[name]++
	}
}

// Unmount releases one Mount; the last user's unmounts a type/device volume.
func (s *Store) Unmount(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mounts[name] == 0 {
		return
	}
	s.mounts[name]--
	if s.mounts[name] == 0 {
		delete(s.mounts, name)
		unix.Unmount(s.Path(name), unix.MNT_DETACH)
	}
}

// Size returns the bytes used under a volume's data directory.
func (s *Store) Size(name string) int64 {
	var n int64
	filepath.WalkDir(s.Path(name), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// Empty reports whether a volume's data directory has no entries.
func (s *Store) Empty(name string) bool {
	f, err := os.Open(s.Path(name))
	if err != nil {
		return false
	}
	defer f.Close()
	names, _ := f.Readdirnames(1)
	return len(names) == 0
}
