package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/moby/moby/client"
	"github.com/moby/term"
	"golang.org/x/sys/unix"
)

// defaultEscapeKeys is ctrl-p,ctrl-q, docker's detach sequence.
var defaultEscapeKeys = []byte{16, 17}

// hijackStreamer copies our standard streams to and from an attach connection.
type hijackStreamer struct {
	resp   client.HijackedResponse
	in     io.Reader // nil when stdin is not attached
	out    io.Writer // nil when stdout is not attached
	errOut io.Writer // nil when stderr is not attached
	tty    bool
	escape []byte

	mu        sync.Mutex
	restoreFn func()
}

// stream runs until the output ends, the input ends with no output attached, the user
// detaches (term.EscapeError) or ctx is done. Stdin goes to the connection, whose write
// side is closed at its end; output is demultiplexed unless the container has a TTY.
func (h *hijackStreamer) stream(ctx context.Context) error {
	in := h.in
	if in != nil && h.tty {
		if fd, ok := term.GetFdInfo(in); ok {
			state, err := term.SetRawTerminal(fd)
			if err != nil {
				return fmt.Errorf("unable to set IO streams as raw terminal: %s", err)
			}
			h.mu.Lock()
			h.restoreFn = sync.OnceFunc(func() { _ = term.RestoreTerminal(fd, state) })
			h.mu.Unlock()
		}
		in = term.NewEscapeProxy(in, h.escape)
	}
	defer h.restore()

	var outDone chan error
	if h.out != nil || h.errOut != nil {
		outDone = make(chan error, 1)
		go func() {
			var err error
			if h.tty {
				_, err = io.Copy(orDiscard(h.out), h.resp.Reader)
				h.restore()
			} else {
				_, err = demux(orDiscard(h.out), orDiscard(h.errOut), h.resp.Reader)
			}
			outDone <- err
		}()
	}

	inDone := make(chan struct{})
	detached := make(chan error, 1)
	go func() {
		if in != nil {
			_, err := io.Copy(h.resp.Conn, in)
			h.restore()
			if _, ok := err.(term.EscapeError); ok {
				detached <- err
				return
			}
		}
		_ = h.resp.CloseWrite()
		close(inDone)
	}()

	select {
	case err := <-outDone:
		return err
	case <-inDone:
		if outDone == nil {
			return nil
		}
		select {
		case err := <-outDone:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	case err := <-detached:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// restore puts the terminal back in the state it had before stream made it raw.
func (h *hijackStreamer) restore() {
	h.mu.Lock()
	fn := h.restoreFn
	h.mu.Unlock()
	if fn != nil {
		fn()
	}
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

func escapeKeys(keys string) ([]byte, error) {
	if keys == "" {
		return defaultEscapeKeys, nil
	}
	b, err := term.ToBytes(keys)
	if err != nil {
		return nil, fmt.Errorf("invalid detach keys (%s): %w", keys, err)
	}
	return b, nil
}

// forwardedSignals are the signals proxied to an attached container.
var forwardedSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

type killer interface {
	ContainerKill(ctx context.Context, container string, options client.ContainerKillOptions) (client.ContainerKillResult, error)
}

// proxySignals forwards the signals we receive to container id until the returned stop is called.
func proxySignals(ctx context.Context, api killer, id string) (stop func()) {
	ch := make(chan os.Signal, 16)
	signal.Notify(ch, forwardedSignals...)
	done := make(chan struct{})
	ctx = context.WithoutCancel(ctx)
	go func() {
		for {
			select {
			case s := <-ch:
				name := unix.SignalName(s.(syscall.Signal))
				_, _ = api.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: name})
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}

type resizer interface {
	ContainerResize(ctx context.Context, container string, options client.ContainerResizeOptions) (client.ContainerResizeResult, error)
}

// resizeFunc sets the terminal size of a container or exec process.
type resizeFunc func(ctx context.Context, height, width uint) error

// containerResize returns the resizeFunc of container id.
func containerResize(api resizer, id string) resizeFunc {
	return func(ctx context.Context, h, w uint) error {
		_, err := api.ContainerResize(ctx, id, client.ContainerResizeOptions{Height: h, Width: w})
		return err
	}
}

// monitorTTYSize gives the process our terminal's size now and on every SIGWINCH until ctx ends.
func monitorTTYSize(ctx context.Context, resize resizeFunc, out io.Writer) {
	fd, ok := term.GetFdInfo(out)
	if !ok {
		return
	}
	apply := func() {
		if ws, err := term.GetWinsize(fd); err == nil && ws.Height > 0 && ws.Width > 0 {
			_ = resize(ctx, uint(ws.Height), uint(ws.Width))
		}
	}
	apply()
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGWINCH)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-ch:
				apply()
			case <-ctx.Done():
				return
			}
		}
	}()
}

// isTerminal reports whether v is a file descriptor of a terminal.
func isTerminal(v any) bool {
	_, ok := term.GetFdInfo(v)
	return ok
}

// ttySize returns the height and width of the terminal behind out, or zeros.
func ttySize(out io.Writer) (uint, uint) {
	fd, ok := term.GetFdInfo(out)
	if !ok {
		return 0, 0
	}
	ws, err := term.GetWinsize(fd)
	if err != nil {
		return 0, 0
	}
	return uint(ws.Height), uint(ws.Width)
}
