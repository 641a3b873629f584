package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The shim runs once per container: its memory is per-container overhead. Heavy
// packages (net/http alone adds ~1.5 MB RSS per shim) must stay out of it.
func TestShimStaysSmall(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, heavy := range []string{"net/http", "crypto/tls", "log/slog", "github.com/moby/moby/client"} {
		for _, dep := range strings.Fields(string(out)) {
			if dep == heavy {
				t.Errorf("berth-shim depends on %s", heavy)
			}
		}
	}
}
