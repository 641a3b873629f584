package content

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/keylock"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/internal/atomicfile"
	digest "github.com/opencontainers/go-digest"
)

// ErrExists is returned (wrapped) by Writer when the blob is already stored.
var ErrExists = fmt.Errorf("blob already exists: %w", errdefs.ErrConflict)

// Store is a content-addressed blob store on the local filesystem. It is safe for
// concurrent use; writers of the same digest are serialised.
type Store struct {
	blobs  string // <root>/content/blobs/sha256
	ingest string // <root>/content/ingest

	locks keylock.Locks[digest.Digest] // one writer per digest
}

var (
	_ Provider = (*Store)(nil)
	_ Ingester = (*Store)(nil)
	_ Manager  = (*Store)(nil)
)

// NewStore opens (creating if needed) the store in dir (<data-root>/content), with
// blobs in dir/blobs/sha256 and partial writes in dir/ingest, and removes partial
// writes left by a previous process.
func NewStore(dir string) (*Store, error) {
	s := &Store{
		blobs:  filepath.Join(dir, "blobs", "sha256"),
		ingest: filepath.Join(dir, "ingest"),
	}
	for _, d := range []string{s.blobs, s.ingest} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	ents, err := os.ReadDir(s.ingest)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		os.RemoveAll(filepath.Join(s.ingest, e.Name()))
	}
	return s, nil
}

func validate(dgst digest.Digest) error {
	if err := dgst.Validate(); err != nil {
		return errdefs.InvalidParameter(fmt.Sprintf("invalid digest %q: %v", dgst, err))
	}
	if dgst.Algorithm() != digest.SHA256 {
		return errdefs.InvalidParameter(fmt.Sprintf("unsupported digest algorithm %q", dgst.Algorithm()))
	}
	return nil
}

func (s *Store) path(dgst digest.Digest) string { return filepath.Join(s.blobs, dgst.Encoded()) }

func notFound(dgst digest.Digest) error {
	return fmt.Errorf("content %s: %w", dgst, errdefs.ErrNotFound)
}

// Info returns the size of a stored blob.
func (s *Store) Info(ctx context.Context, dgst digest.Digest) (Info, error) {
	if err := validate(dgst); err != nil {
		return Info{}, err
	}
	st, err := os.Stat(s.path(dgst))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Info{}, notFound(dgst)
		}
		return Info{}, err
	}
	return Info{Digest: dgst, Size: st.Size()}, nil
}

// Exists reports whether the blob is stored.
func (s *Store) Exists(ctx context.Context, dgst digest.Digest) bool {
	_, err := s.Info(ctx, dgst)
	return err == nil
}

// Open opens a stored blob for streaming reads.
func (s *Store) Open(ctx context.Context, dgst digest.Digest) (io.ReadCloser, error) {
	return s.open(dgst)
}

func (s *Store) open(dgst digest.Digest) (*blobReader, error) {
	if err := validate(dgst); err != nil {
		return nil, err
	}
	f, err := os.Open(s.path(dgst))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, notFound(dgst)
		}
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &blobReader{File: f, size: st.Size()}, nil
}

type blobReader struct {
	*os.File
	size int64
}

func (r *blobReader) Size() int64 { return r.size }

// ReaderAt opens a stored blob for random access.
func (s *Store) ReaderAt(ctx context.Context, dgst digest.Digest) (ReaderAt, error) {
	return s.open(dgst)
}

// Delete removes a blob; a missing blob is errdefs.ErrNotFound.
func (s *Store) Delete(ctx context.Context, dgst digest.Digest) error {
	if err := validate(dgst); err != nil {
		return err
	}
	if err := os.Remove(s.path(dgst)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return notFound(dgst)
		}
		return err
	}
	return nil
}

// Walk calls fn for every stored blob.
func (s *Store) Walk(ctx context.Context, fn func(Info) error) error {
	ents, err := os.ReadDir(s.blobs)
	if err != nil {
		return err
	}
	for _, e := range ents {
		dgst := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if dgst.Validate() != nil {
			continue
		}
		st, err := e.Info()
		if err != nil {
			continue
		}
		if err := fn(Info{Digest: dgst, Size: st.Size()}); err != nil {
			return err
		}
	}
	return nil
}

// Writer starts a verified write. With an expected digest the partial data goes to
// ingest/<hex> (a stale file of an earlier, killed attempt is overwritten) and concurrent
// writers of the same digest wait for each other; without one (expected == "") the
// digest is whatever was written. size < 0 means unknown.
func (s *Store) Writer(ctx context.Context, expected digest.Digest, size int64) (*Writer, error) {
	w := &Writer{s: s, expected: expected, size: size, h: sha256.New()}
	var name string
	if expected != "" {
		if err := validate(expected); err != nil {
			return nil, err
		}
		unlock, err := s.locks.Lock(ctx, expected)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(s.path(expected)); err == nil {
			unlock()
			return nil, fmt.Errorf("content %s: %w", expected, ErrExists)
		}
		w.unlock = unlock
		name = expected.Encoded()
	} else {
		var b [8]byte
		rand.Read(b[:])
		name = "tmp-" + hex.EncodeToString(b[:])
	}
	w.path = filepath.Join(s.ingest, name)
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		w.release()
		return nil, err
	}
	w.f = f
	return w, nil
}

// Writer streams one blob into ingest, hashing as it writes.
type Writer struct {
	s        *Store
	f        *os.File
	path     string
	expected digest.Digest
	size     int64
	h        hash.Hash
	n        int64
	unlock   func()
}

// Write appends p; writing past the expected size fails at once.
func (w *Writer) Write(p []byte) (int, error) {
	if w.size >= 0 && w.n+int64(len(p)) > w.size {
		return 0, fmt.Errorf("content %s: more data than the expected %d bytes", w.expected, w.size)
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	return n, err
}

// Written returns the number of bytes written so far.
func (w *Writer) Written() int64 { return w.n }

// Digest returns the digest of what was written so far.
func (w *Writer) Digest() digest.Digest { return digest.NewDigest(digest.SHA256, w.h) }

// Commit verifies size and digest, syncs and moves the blob into place. It always
// closes the writer: on a mismatch the partial data is deleted.
func (w *Writer) Commit(ctx context.Context) (err error) {
	if w.f == nil {
		return errors.New("content writer already closed")
	}
	defer w.release()
	dgst := w.Digest()
	switch {
	case w.size >= 0 && w.n != w.size:
		err = fmt.Errorf("content %s: size mismatch: got %d bytes, expected %d", w.expected, w.n, w.size)
	case w.expected != "" && dgst != w.expected:
		err = fmt.Errorf("content %s: digest mismatch: got %s", w.expected, dgst)
	}
	if err != nil {
		return errdefs.New(errdefs.ErrInvalidParameter, err.Error())
	}
	if err := w.f.Chmod(0o444); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return err
	}
	if err := w.f.Close(); err != nil {
		return err
	}
	w.f = nil
	if err := os.Rename(w.path, w.s.path(dgst)); err != nil {
		return err
	}
	return atomicfile.SyncDir(w.s.blobs)
}

// Close abandons an uncommitted write and deletes its partial data.
func (w *Writer) Close() error {
	w.release()
	return nil
}

func (w *Writer) release() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
		os.Remove(w.path)
	}
	if w.unlock != nil {
		w.unlock()
		w.unlock = nil
	}
}

// Ingest writes r as the blob dgst of the given size (< 0: unknown) through cs,
// verifying both. A blob that is already stored is not an error.
func Ingest(ctx context.Context, cs Ingester, dgst digest.Digest, size int64, r io.Reader) error {
	w, err := cs.Writer(ctx, dgst, size)
	if err != nil {
		if errors.Is(err, ErrExists) {
			return nil
		}
		return err
	}
	defer w.Close()
	buf := make([]byte, 256<<10)
	if _, err := io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{r}, buf); err != nil {
		return err
	}
	return w.Commit(ctx)
}

// ReadBlob reads a whole (small) blob into memory.
func ReadBlob(ctx context.Context, p Provider, dgst digest.Digest) ([]byte, error) {
	ra, err := p.ReaderAt(ctx, dgst)
	if err != nil {
		return nil, err
	}
	defer ra.Close()
	b := make([]byte, ra.Size())
	if len(b) > 0 {
		if _, err := ra.ReadAt(b, 0); err != nil {
			return nil, err
		}
	}
	return b, nil
}
