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
	"os"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/shim"
)

func main() {
	// berthd starts shims with GOMAXPROCS=1 (a shim needs no parallelism, and
	// fewer Ps mean less memory per container); the runtime it runs gets the default.
	os.Unsetenv("GOMAXPROCS")
	cfg, err := parseArgs(os.Args[1:])
	if err != nil {
		os.Stderr.WriteString("berth-shim: " + err.Error() + "\n")
		os.Exit(2)
	}
	var ready *os.File
	if f := os.NewFile(3, "ready"); f != nil {
		if _, err := f.Stat(); err == nil {
			ready = f
		}
	}
	if err := shim.Run(cfg, ready); err != nil {
		os.Stderr.WriteString("berth-shim: " + err.Error() + "\n")
		os.Exit(1)
	}
}

type usageError string

func (e usageError) Error() string { return string(e) }

// parseArgs reads the command line as the flag package would (-name value,
// -name=value, --name; -tty and -stdin are booleans), without its weight.
func parseArgs(args []string) (shim.Config, error) {
	cfg := shim.Config{Runtime: "/usr/sbin/runc", LogMaxFiles: 1}
	strs := map[string]*string{
		"id": &cfg.ID, "bundle": &cfg.Bundle, "runtime": &cfg.Runtime, "runtime-root": &cfg.RuntimeRoot,
		"state-dir": &cfg.StateDir, "log": &cfg.LogPath,
	}
	bools := map[string]*bool{"tty": &cfg.Tty, "stdin": &cfg.Stdin}
	for len(args) > 0 {
		a := args[0]
		args = args[1:]
		if a == "--" {
			break
		}
		if len(a) < 2 || a[0] != '-' {
			return cfg, usageError("unexpected argument " + strconv.Quote(a))
		}
		name := strings.TrimPrefix(a[1:], "-")
		name, val, hasVal := strings.Cut(name, "=")
		if b, ok := bools[name]; ok {
			v := true
			if hasVal {
				var err error
				if v, err = strconv.ParseBool(val); err != nil {
					return cfg, usageError("invalid boolean value " + strconv.Quote(val) + " for -" + name)
				}
			}
			*b = v
			continue
		}
		if !hasVal {
			if len(args) == 0 {
				return cfg, usageError("flag needs an argument: -" + name)
			}
			val, args = args[0], args[1:]
		}
		var err error
		switch name {
		case "log-max-size":
			cfg.LogMaxSize, err = strconv.ParseInt(val, 10, 64)
		case "log-max-files":
			cfg.LogMaxFiles, err = strconv.Atoi(val)
		default:
			p, ok := strs[name]
			if !ok {
				return cfg, usageError("flag provided but not defined: -" + name)
			}
			*p = val
		}
		if err != nil {
			return cfg, usageError("invalid value " + strconv.Quote(val) + " for -" + name)
		}
	}
	if cfg.ID == "" || cfg.Bundle == "" || cfg.RuntimeRoot == "" || cfg.StateDir == "" || cfg.LogPath == "" {
		return cfg, usageError("-id, -bundle, -runtime-root, -state-dir and -log are required")
	}
	return cfg, nil
}
