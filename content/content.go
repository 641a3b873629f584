package content

import (
	"context"
	"io"

	digest "github.com/opencontainers/go-digest"
)

// Info describes a stored blob.
type Info struct {
	Digest digest.Digest
	Size   int64
}

// ReaderAt reads a stored blob at random offsets.
type ReaderAt interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// Provider gives read access to blobs.
type Provider interface {
	ReaderAt(ctx context.Context, dgst digest.Digest) (ReaderAt, error)
}

// Ingester writes new blobs.
type Ingester interface {
	// Writer opens a writer for a blob of the expected digest and size (size < 0: unknown).
	// If the blob is already stored the error is of class errdefs.ErrConflict (see ErrExists).
	Writer(ctx context.Context, expected digest.Digest, size int64) (*Writer, error)
}

// Manager inspects and removes blobs.
type Manager interface {
	Info(ctx context.Context, dgst digest.Digest) (Info, error)
	Delete(ctx context.Context, dgst digest.Digest) error
	Walk(ctx context.Context, fn func(Info) error) error
}
