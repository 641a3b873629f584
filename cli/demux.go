package cli

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// demux splits Docker's multiplexed stream (8-byte header: stream id, 3 zero bytes,
// big-endian length; then the payload) into stdout and stderr. Unlike stdcopy it
// buffers both sides and flushes only when no more input is waiting, so a stream of
// millions of small frames costs a few large writes, while a follow stays live.
func demux(stdout, stderr io.Writer, src io.Reader) (int64, error) {
	br := bufio.NewReaderSize(src, 64<<10)
	bo := bufio.NewWriterSize(stdout, 64<<10)
	be := bufio.NewWriterSize(stderr, 16<<10)
	flush := func() error {
		if err := bo.Flush(); err != nil {
			return err
		}
		return be.Flush()
	}
	var hdr [8]byte
	var total int64
	for {
		if br.Buffered() == 0 {
			if err := flush(); err != nil {
				return total, err
			}
		}
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return total, flush()
			}
			flush()
			return total, err
		}
		var dst *bufio.Writer
		switch hdr[0] {
		case 0, 1:
			dst = bo
		case 2:
			dst = be
		case 3: // systemerr: the daemon's error, as the payload
			n := binary.BigEndian.Uint32(hdr[4:])
			msg := make([]byte, n)
			io.ReadFull(br, msg)
			flush()
			return total, fmt.Errorf("error from daemon in stream: %s", msg)
		default:
			flush()
			return total, fmt.Errorf("unrecognized input header: %d", hdr[0])
		}
		n, err := io.CopyN(dst, br, int64(binary.BigEndian.Uint32(hdr[4:])))
		total += n
		if err != nil {
			flush()
			return total, err
		}
	}
}
