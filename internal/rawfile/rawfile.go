// Package rawfile reads regular files through their descriptor, without the Go
// runtime's poller: os.Open of a regular file costs three more system calls (the
// poller's fcntl and epoll_ctl), which add up over a build context's thousands of files.
package rawfile

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Reader reads the open file descriptor it is.
type Reader int

// Open opens path read-only (and close-on-exec) with extra flags such as O_NOFOLLOW.
func Open(path string, flags int) (Reader, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|flags, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return Reader(fd), nil
	}
}

// Read reads up to len(p) bytes; io.EOF at the end of the file.
func (r Reader) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(int(r), p)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, err
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// Close closes the descriptor.
func (r Reader) Close() error { return unix.Close(int(r)) }
