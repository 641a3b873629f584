package daemon

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"time"

	"github.com/berth-dev/berth/logger/jsonfile"
)

// LogsOptions mirrors GET /containers/{id}/logs.
type LogsOptions struct {
	Stdout, Stderr bool
	Follow         bool
	Tail           int // -1: all
	Since, Until   time.Time
	Timestamps     bool
	Details        bool
}

// Logs writes the container's log entries to stdout/stderr; with Follow it keeps going
// until the container exits or ctx ends.
func (d *Daemon) Logs(ctx context.Context, ref string, o LogsOptions, stdout, stderr io.Writer) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	running := c.running()
	exited := c.exited
	path := c.LogPath
	c.mu.Unlock()
	ro := jsonfile.ReadOptions{Tail: o.Tail, Since: o.Since, Until: o.Until}
	if o.Follow && running {
		ro.Follow = true
		ro.StopFollow = exited
	}
	// Without follow, consecutive entries of one stream go out as one write of up to
	// 32 KiB (one frame on the wire instead of one per line); with follow every entry
	// goes out at once.
	var pending []byte
	var pendingW io.Writer
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		_, err := pendingW.Write(pending)
		pending = pending[:0]
		return err
	}
	var buf []byte
	err = jsonfile.Read(ctx, path, ro, func(e jsonfile.Entry) error {
		var w io.Writer
		switch e.Stream {
		case "stderr":
			if !o.Stderr {
				return nil
			}
			w = stderr
		default:
			if !o.Stdout {
				return nil
			}
			w = stdout
		}
		buf = buf[:0]
		if o.Timestamps {
			buf = e.Time.UTC().AppendFormat(buf, time.RFC3339Nano)
			buf = append(buf, ' ')
		}
		buf = append(buf, e.Line...)
		if ro.Follow {
			_, err := w.Write(buf)
			return err
		}
		if w != pendingW || len(pending)+len(buf) > 32<<10 {
			if err := flush(); err != nil {
				return err
			}
			pendingW = w
		}
		pending = append(pending, buf...)
		return nil
	})
	if ferr := flush(); err == nil {
		err = ferr
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil // never started: no log yet
	}
	return err
}
