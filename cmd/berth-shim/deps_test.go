package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The shim runs once per container: its memory is per-container overhead. Heavy
// packages (net/http alone adds ~1.5 MB RSS per shim; net, encoding/json, fmt
// and reflect together ~0.7 MB) must stay out of it.
func TestShimStaysSmall(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, heavy := range []string{"net/http", "crypto/tls", "log/slog", "github.com/moby/moby/client",
		"net", "encoding/json", "fmt", "flag", "os/exec", "runtime/debug",
		"github.com/berth-dev/berth/errdefs", "github.com/berth-dev/berth/logger/jsonfile"} {
		for _, dep := range strings.Fields(string(out)) {
			if dep == heavy {
				t.Errorf("berth-shim depends on %s", heavy)
			}
		}
	}
}
