// Command berthd is the Berth daemon: it serves the Docker Engine API.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/berth-dev/berth/api/server"
	"github.com/berth-dev/berth/daemon"
	"github.com/berth-dev/berth/distribution"
	"github.com/berth-dev/berth/internal/version"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

type options struct {
	dataRoot, execRoot, configFile, runtime string
	hosts, mirrors, insecure                []string
	debug, noHub                            bool
	logLevel                                string
}

func main() {
	var o options
	cmd := &cobra.Command{
		Use:           "berthd [OPTIONS]",
		Short:         "Berth daemon: a Docker-compatible container engine",
		Version:       version.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd, &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dataRoot, "data-root", "/var/lib/berth", "Root directory of persistent Berth state")
	f.StringVar(&o.execRoot, "exec-root", "/run/berth", "Root directory for execution state files")
	f.StringVar(&o.configFile, "config-file", "/etc/berth/daemon.json", "Daemon configuration file")
	f.StringSliceVarP(&o.hosts, "host", "H", nil, "Daemon socket(s) to connect to")
	f.StringSliceVar(&o.mirrors, "registry-mirror", nil, "Preferred registry mirror")
	f.StringSliceVar(&o.insecure, "insecure-registry", nil, "Enable insecure registry communication")
	f.StringVar(&o.runtime, "runtime", "", "Path or name of the OCI runtime (default \"runc\")")
	f.BoolVarP(&o.debug, "debug", "D", false, "Enable debug mode")
	f.BoolVar(&o.noHub, "no-docker-hub", false, "Never contact Docker Hub: docker.io images come only from the registry mirrors (air-gapped hosts, tests)")
	f.StringVarP(&o.logLevel, "log-level", "l", "info", `Set the logging level ("debug"|"info"|"warn"|"error")`)
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "berthd:", err)
		os.Exit(1)
	}
}

func run(cmd *cobra.Command, o *options) error {
	fc, set, err := daemon.LoadConfigFile(o.configFile, !cmd.Flags().Changed("config-file"))
	if err != nil {
		return err
	}
	var conflicts []string
	merge := func(flag, key string, apply func()) {
		if cmd.Flags().Changed(flag) {
			if set[key] {
				conflicts = append(conflicts, fmt.Sprintf("%s: (from flag) vs (from file)", key))
			}
			return
		}
		if set[key] {
			apply()
		}
	}
	merge("data-root", "data-root", func() { o.dataRoot = fc.DataRoot })
	merge("exec-root", "exec-root", func() { o.execRoot = fc.ExecRoot })
	merge("host", "hosts", func() { o.hosts = fc.Hosts })
	merge("registry-mirror", "registry-mirrors", func() { o.mirrors = fc.RegistryMirrors })
	merge("insecure-registry", "insecure-registries", func() { o.insecure = fc.InsecureRegistries })
	merge("debug", "debug", func() { o.debug = fc.Debug })
	merge("log-level", "log-level", func() { o.logLevel = fc.LogLevel })
	if len(conflicts) > 0 {
		return fmt.Errorf("unable to configure the Berth daemon with file %s: the following directives are specified both as a flag and in the configuration file: %s", o.configFile, strings.Join(conflicts, ", "))
	}
	if o.runtime == "" {
		o.runtime = "runc"
		if fc.DefaultRuntime != "" {
			o.runtime = fc.DefaultRuntime
		}
		if rc, ok := fc.Runtimes[o.runtime]; ok && rc.Path != "" {
			o.runtime = rc.Path
		}
	}
	level := slog.LevelInfo
	if o.debug {
		level = slog.LevelDebug
	} else if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("invalid log level %q", o.logLevel)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	if os.Geteuid() != 0 {
		return errors.New("berthd needs to be started with root privileges")
	}
	runtimePath, err := exec.LookPath(o.runtime)
	if err != nil {
		return fmt.Errorf("OCI runtime %q not found: %w (install Debian's runc: apt-get install -y runc)", o.runtime, err)
	}
	shim, err := findBeside("berth-shim")
	if err != nil {
		return err
	}
	if len(o.hosts) == 0 {
		o.hosts = []string{"unix://" + filepath.Join(o.execRoot, "berth.sock")}
	}
	for i := range o.mirrors {
		o.mirrors[i] = strings.TrimSuffix(o.mirrors[i], "/")
	}

	// Shim sockets live at <exec-root>/shims/<64-hex id>/console.sock: a unix socket path
	// holds at most 107 bytes.
	if o.execRoot = filepath.Clean(o.execRoot); len(o.execRoot) > 23 {
		return fmt.Errorf("--exec-root %s is too long: at most 23 characters, so that shim sockets fit the 107-byte unix socket limit", o.execRoot)
	}
	if err := os.MkdirAll(o.execRoot, 0o711); err != nil {
		return err
	}
	lock, err := lockPidfile(filepath.Join(o.execRoot, "berthd.pid"))
	if err != nil {
		return err
	}
	defer lock.Close()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	regOpts := distribution.Options{Mirrors: o.mirrors, MirrorsByHost: fc.RegistryMirrorsByHost, Insecure: o.insecure}
	if err := regOpts.Validate(); err != nil {
		return fmt.Errorf("unable to configure the Berth daemon: %w", err)
	}
	bridgeName, bip, pools, err := fc.NetworkConfig()
	if err != nil {
		return fmt.Errorf("unable to configure the Berth daemon with file %s: %w", o.configFile, err)
	}
	d, err := daemon.New(ctx, daemon.Config{
		DefaultBridge: bridgeName,
		Bip:           bip,
		AddressPools:  pools,
		DataRoot:      o.dataRoot,
		ExecRoot:      o.execRoot,
		Mirrors:       o.mirrors,
		Insecure:      o.insecure,
		NoHub:         o.noHub,
		Runtime:       runtimePath,
		ShimBinary:    shim,
		Debug:         o.debug,

		MirrorsByHost: fc.RegistryMirrorsByHost,
	}, log)
	if err != nil {
		return err
	}
	defer d.Close()

	srv := &http.Server{Handler: server.New(d, log), ReadHeaderTimeout: 30 * time.Second}
	var listeners []net.Listener
	for _, h := range o.hosts {
		l, err := listen(h)
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return err
		}
		listeners = append(listeners, l)
		go srv.Serve(l)
		log.Info("API listen on " + h)
	}
	log.Info("berthd started", "version", version.Version, "data-root", o.dataRoot, "runtime", runtimePath)
	<-ctx.Done()
	log.Info("berthd shutting down; containers keep running")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	return nil
}

// findBeside finds a helper binary next to this executable, else on PATH.
func findBeside(name string) (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found beside berthd or on PATH", name)
	}
	return p, nil
}

// lockPidfile takes an exclusive lock so only one berthd uses an exec root.
func lockPidfile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("berthd is already running (lock on %s held)", path)
	}
	f.Truncate(0)
	fmt.Fprintf(f, "%d\n", os.Getpid())
	return f, nil
}

// listen opens one -H address: unix:///path (mode 0660) or tcp://loopback:port.
func listen(addr string) (net.Listener, error) {
	proto, rest, ok := strings.Cut(addr, "://")
	if !ok {
		return nil, fmt.Errorf("invalid host %q: want unix:///path or tcp://host:port", addr)
	}
	switch proto {
	case "unix":
		if err := os.MkdirAll(filepath.Dir(rest), 0o711); err != nil {
			return nil, err
		}
		os.Remove(rest) // stale socket of a previous berthd; the pidfile lock guards a live one
		l, err := net.Listen("unix", rest)
		if err != nil {
			return nil, err
		}
		if err := os.Chmod(rest, 0o660); err != nil {
			l.Close()
			return nil, err
		}
		return l, nil
	case "tcp":
		host, _, err := net.SplitHostPort(rest)
		if err != nil {
			return nil, fmt.Errorf("invalid host %q: %w", addr, err)
		}
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("refusing to listen on %s without TLS: only loopback addresses are allowed", addr)
		}
		return net.Listen("tcp", rest)
	}
	return nil, fmt.Errorf("invalid host %q: unsupported protocol %q", addr, proto)
}
