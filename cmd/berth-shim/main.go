// Command berth-shim supervises one container for berthd. berthd starts it
// detached (own session) with:
//
//	berth-shim -id ID -bundle DIR -runtime /usr/sbin/runc -runtime-root EXEC_ROOT/runc \
//	    -state-dir EXEC_ROOT/shims/ID -log CONTAINER_DIR/ID-json.log \
//	    [-log-max-size BYTES -log-max-files N] [-tty] [-stdin]
//
// and an inherited pipe as fd 3: the shim writes one byte to it and closes it once
// its socket (STATE_DIR/shim.sock) accepts requests. The shim then waits for a
// start request, runs `runc run -d` once, logs and relays the container's output,
// records STATE_DIR/exit.json, deletes the container and exits.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/berth-dev/berth/shim"
)

func main() {
	// berthd starts shims with GOMAXPROCS=1 (a shim needs no parallelism, and
	// fewer Ps mean less memory per container); the runtime it runs gets the default.
	os.Unsetenv("GOMAXPROCS")
	var cfg shim.Config
	flag.StringVar(&cfg.ID, "id", "", "container id")
	flag.StringVar(&cfg.Bundle, "bundle", "", "OCI bundle directory")
	flag.StringVar(&cfg.Runtime, "runtime", "/usr/sbin/runc", "OCI runtime binary")
	flag.StringVar(&cfg.RuntimeRoot, "runtime-root", "", "runtime state root (runc --root)")
	flag.StringVar(&cfg.StateDir, "state-dir", "", "shim state directory")
	flag.StringVar(&cfg.LogPath, "log", "", "json-file log path")
	flag.Int64Var(&cfg.LogMaxSize, "log-max-size", 0, "rotate the log at this many bytes (0: never)")
	flag.IntVar(&cfg.LogMaxFiles, "log-max-files", 1, "log files kept, the current one included")
	flag.BoolVar(&cfg.Tty, "tty", false, "give the container a pty")
	flag.BoolVar(&cfg.Stdin, "stdin", false, "keep the container's stdin open")
	flag.Parse()
	if cfg.ID == "" || cfg.Bundle == "" || cfg.RuntimeRoot == "" || cfg.StateDir == "" || cfg.LogPath == "" {
		fmt.Fprintln(os.Stderr, "berth-shim: -id, -bundle, -runtime-root, -state-dir and -log are required")
		os.Exit(2)
	}
	var ready *os.File
	if f := os.NewFile(3, "ready"); f != nil {
		if _, err := f.Stat(); err == nil {
			ready = f
		}
	}
	if err := shim.Run(cfg, ready); err != nil {
		fmt.Fprintln(os.Stderr, "berth-shim:", err)
		os.Exit(1)
	}
}
