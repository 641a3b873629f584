package main

import (
	"strings"
	"testing"

	"github.com/berth-dev/berth/shim"
)

func TestParseArgs(t *testing.T) {
	base := []string{"-id", "c1", "-bundle", "/b", "-runtime-root", "/r", "-state-dir", "/s", "-log", "/l"}
	cfg, err := parseArgs(base)
	want := shim.Config{ID: "c1", Bundle: "/b", Runtime: "/usr/sbin/runc", RuntimeRoot: "/r", StateDir: "/s", LogPath: "/l", LogMaxFiles: 1}
	if err != nil || cfg != want {
		t.Fatalf("parseArgs(%q) = %+v, %v; want %+v", base, cfg, err, want)
	}
	cfg, err = parseArgs(append(base, "--runtime=/x/crun", "-log-max-size", "1048576", "-log-max-files=3", "-tty", "-stdin=false", "-stdin"))
	want.Runtime, want.LogMaxSize, want.LogMaxFiles, want.Tty, want.Stdin = "/x/crun", 1<<20, 3, true, true
	if err != nil || cfg != want {
		t.Fatalf("got %+v, %v; want %+v", cfg, err, want)
	}
	for _, bad := range [][]string{
		base[:8],
		append(base, "-nope", "x"),
		append(base, "-log-max-size", "big"),
		append(base, "-log-max-files"),
		append(base, "-tty=maybe"),
		append(base, "stray"),
	} {
		if _, err := parseArgs(bad); err == nil {
			t.Errorf("parseArgs(%q) succeeded", strings.Join(bad, " "))
		}
	}
}
