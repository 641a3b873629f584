package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	path := os.Getenv("CONF_FILE_PATH")
	if path == "" {
		path = "conf.yaml"
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, path, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "myapp:", err)
		os.Exit(1)
	}
}

// run reads the configuration at path and serves the API until ctx ends, then shuts the
// server down gracefully. Everything is written to out unbuffered, so logs show it at once.
func run(ctx context.Context, path string, out io.Writer) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	cfg, err := ParseConfig(path, data)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Read Configuration from file (%s): %s\n", path, cfg)
	fmt.Fprintln(out, "Starting HTTP RESTful API Server ...")
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, " * Running on http://%s\n", net.JoinHostPort(cfg.Host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)))
	srv := &http.Server{Handler: NewHandler(cfg.APIPrefix, out), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	fmt.Fprintln(out, "Stopping HTTP RESTful API Server ...")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
