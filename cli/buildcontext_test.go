package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// tarEntry is one entry of a context tar as a test sees it.
type tarEntry struct {
	typ      byte
	mode     int64
	uid, gid int
	link     string
	content  string
}

// readTar returns the entries of a tar in order and by name.
func readTar(t *testing.T, r io.Reader) ([]string, map[string]tarEntry) {
	t.Helper()
	tr := tar.NewReader(r)
	var names []string
	m := map[string]tarEntry{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names, m
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		b, _ := io.ReadAll(tr)
		names = append(names, h.Name)
		m[h.Name] = tarEntry{typ: h.Typeflag, mode: h.Mode, uid: h.Uid, gid: h.Gid, link: h.Linkname, content: string(b)}
	}
}

// writeTree creates files under dir; a name ending in "/" is a directory.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// prepare runs PrepareBuildContext and reads the whole tar.
func prepare(t *testing.T, contextArg, dockerfile, stdin string) (*BuildContext, []string, map[string]tarEntry) {
	t.Helper()
	bc, err := PrepareBuildContext(contextArg, dockerfile, strings.NewReader(stdin))
	if err != nil {
		t.Fatalf("PrepareBuildContext(%q, %q): %v", contextArg, dockerfile, err)
	}
	defer bc.Close()
	names, m := readTar(t, bc)
	if err := bc.Err(); err != nil {
		t.Fatalf("stream error: %v", err)
	}
	return bc, names, m
}

func TestBuildContextDockerignore(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile": "FROM busybox\n",
		".dockerignore": "# comment\n*.log\n!keep.log\n**/*.tmp\n/build/\n!build/artifact.bin\nsecret\n" +
			"Dockerfile\n.dockerignore\ndocs\n!docs/keep/**\n",
		"a.txt":              "a",
		"x.log":              "x",
		"keep.log":           "k",
		"sub/b.tmp":          "b",
		"sub/c.txt":          "c",
		"sub/deep/d.tmp":     "d",
		"sub/deep/e":         "e",
		"build/out.o":        "o",
		"build/artifact.bin": "bin",
		"secret/key":         "s",
		"docs/readme.md":     "r",
		"docs/keep/x/y.md":   "y",
		"empty/":             "",
	})
	bc, names, m := prepare(t, dir, "", "")
	if bc.Dockerfile != "Dockerfile" {
		t.Errorf("Dockerfile = %q", bc.Dockerfile)
	}
	// Ignored directories are entered only for what may be re-included, and then get
	// no entry of their own (as with docker).
	want := []string{".dockerignore", "Dockerfile", "a.txt", "build/artifact.bin", "docs/keep/x/", "docs/keep/x/y.md",
		"empty/", "keep.log", "sub/", "sub/c.txt", "sub/deep/", "sub/deep/e"}
	if !slices.Equal(names, want) {
		t.Errorf("entries\n got %q\nwant %q", names, want)
	}
	if e := m["Dockerfile"]; e.content != "FROM busybox\n" || e.typ != tar.TypeReg || e.mode != 0o644 || e.uid != 0 || e.gid != 0 {
		t.Errorf("Dockerfile entry %+v", e)
	}
	if e := m["sub/"]; e.typ != tar.TypeDir || e.mode != 0o755 {
		t.Errorf("sub/ entry %+v", e)
	}
	if !strings.HasPrefix(m[".dockerignore"].content, "# comment\n") {
		t.Errorf(".dockerignore content %q", m[".dockerignore"].content)
	}
}

func TestBuildContextNoIgnoreFileAndSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\n", "bin/tool": "#!/bin/sh\n", "data": "0123456789"})
	if err := os.Chmod(filepath.Join(dir, "bin/tool"), os.ModeSetuid|0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../data", filepath.Join(dir, "bin/link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "data"), filepath.Join(dir, "hard")); err != nil {
		t.Fatal(err)
	}
	_, names, m := prepare(t, dir, "", "")
	if want := []string{"Dockerfile", "bin/", "bin/link", "bin/tool", "data", "hard"}; !slices.Equal(names, want) {
		t.Fatalf("entries %q, want %q", names, want)
	}
	if e := m["bin/tool"]; e.mode != 0o4755 || e.content != "#!/bin/sh\n" {
		t.Errorf("setuid file %+v", e)
	}
	if e := m["bin/link"]; e.typ != tar.TypeSymlink || e.link != "../data" {
		t.Errorf("symlink %+v", e)
	}
	if e := m["data"]; e.typ != tar.TypeReg || e.content != "0123456789" {
		t.Errorf("data %+v", e)
	}
	if e := m["hard"]; e.typ != tar.TypeLink || e.link != "data" || e.content != "" {
		t.Errorf("hard link %+v", e)
	}
}

func TestBuildContextDockerfileLocations(t *testing.T) {
	t.Run("in an ignored directory", func(t *testing.T) {
		dir := t.TempDir()
		writeTree(t, dir, map[string]string{".dockerignore": "docker\n", "docker/Dockerfile.dev": "FROM a\n", "docker/other": "o", "app": "x"})
		bc, names, _ := prepare(t, dir, filepath.Join(dir, "docker/Dockerfile.dev"), "")
		if bc.Dockerfile != "docker/Dockerfile.dev" || !slices.Equal(names, []string{".dockerignore", "app", "docker/Dockerfile.dev"}) {
			t.Errorf("dockerfile %q entries %q", bc.Dockerfile, names)
		}
	})
	t.Run("relative to the working directory", func(t *testing.T) {
		dir := t.TempDir()
		writeTree(t, dir, map[string]string{"ctx/Dockerfile": "FROM a\n", "ctx/sub/My.Dockerfile": "FROM b\n"})
		t.Chdir(dir)
		bc, _, m := prepare(t, "ctx", "ctx/sub/My.Dockerfile", "")
		if bc.Dockerfile != "sub/My.Dockerfile" || m["sub/My.Dockerfile"].content != "FROM b\n" {
			t.Errorf("dockerfile %q", bc.Dockerfile)
		}
	})
	t.Run("lowercase dockerfile", func(t *testing.T) {
		dir := t.TempDir()
		writeTree(t, dir, map[string]string{"dockerfile": "FROM a\n"})
		if bc, _, _ := prepare(t, dir, "", ""); bc.Dockerfile != "dockerfile" {
			t.Errorf("dockerfile %q", bc.Dockerfile)
		}
	})
	t.Run("outside the context", func(t *testing.T) {
		dir, other := t.TempDir(), t.TempDir()
		writeTree(t, dir, map[string]string{"app": "x", "Dockerfile": "FROM in\n"})
		writeTree(t, other, map[string]string{"Dockerfile": "FROM out\n"})
		bc, names, m := prepare(t, dir, filepath.Join(other, "Dockerfile"), "")
		if !regexp.MustCompile(`^\.dockerfile\.[0-9a-f]{20}$`).MatchString(bc.Dockerfile) {
			t.Fatalf("dockerfile name %q", bc.Dockerfile)
		}
		if want := []string{"Dockerfile", "app", ".dockerfile." + bc.Dockerfile[12:], ".dockerignore"}; !slices.Equal(names, want) {
			t.Errorf("entries %q, want %q", names, want)
		}
		if e := m[bc.Dockerfile]; e.content != "FROM out\n" || e.mode != 0o600 || e.typ != tar.TypeReg {
			t.Errorf("added Dockerfile %+v", e)
		}
		if got := m[".dockerignore"].content; got != ".dockerignore\n"+bc.Dockerfile+"\n" {
			t.Errorf(".dockerignore %q", got)
		}
	})
	t.Run("outside the context with a .dockerignore", func(t *testing.T) {
		dir, other := t.TempDir(), t.TempDir()
		writeTree(t, dir, map[string]string{".dockerignore": "*.log", "a.log": "l", "app": "x"})
		writeTree(t, other, map[string]string{"Dockerfile": "FROM out\n"})
		bc, names, m := prepare(t, dir, filepath.Join(other, "Dockerfile"), "")
		if want := []string{".dockerignore", "app", bc.Dockerfile}; !slices.Equal(names, want) {
			t.Errorf("entries %q, want %q", names, want)
		}
		if got := m[".dockerignore"].content; got != "*.log\n"+bc.Dockerfile+"\n" {
			t.Errorf(".dockerignore %q", got)
		}
	})
	t.Run("from stdin", func(t *testing.T) {
		dir := t.TempDir()
		writeTree(t, dir, map[string]string{"Dockerfile": "FROM file\n", "app": "x"})
		bc, names, m := prepare(t, dir, "-", "FROM stdin\n")
		if !strings.HasPrefix(bc.Dockerfile, ".dockerfile.") || m[bc.Dockerfile].content != "FROM stdin\n" || m["Dockerfile"].content != "FROM file\n" || len(names) != 4 {
			t.Errorf("dockerfile %q entries %q", bc.Dockerfile, names)
		}
	})
	t.Run("symlink to a Dockerfile outside", func(t *testing.T) {
		dir, other := t.TempDir(), t.TempDir()
		writeTree(t, other, map[string]string{"Dockerfile": "FROM linked\n"})
		if err := os.Symlink(filepath.Join(other, "Dockerfile"), filepath.Join(dir, "Dockerfile")); err != nil {
			t.Fatal(err)
		}
		bc, _, m := prepare(t, dir, "", "")
		if !strings.HasPrefix(bc.Dockerfile, ".dockerfile.") || m[bc.Dockerfile].content != "FROM linked\n" {
			t.Errorf("dockerfile %q", bc.Dockerfile)
		}
	})
}

func TestBuildContextDockerfileSpecificIgnore(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		".dockerignore": "a.txt\n", "a.txt": "a", "b.txt": "b",
		"Dockerfile": "FROM x\n", "Dockerfile.dockerignore": "b.txt\nDockerfile\n",
		"dev/Dockerfile": "FROM y\n", "dev/Dockerfile.dockerignore": "a.txt\nb.txt\n",
	})
	// <Dockerfile>.dockerignore wins, and the daemon gets it as .dockerignore.
	_, names, m := prepare(t, dir, "", "")
	if want := []string{".dockerignore", "Dockerfile", "Dockerfile.dockerignore", "a.txt", "dev/", "dev/Dockerfile", "dev/Dockerfile.dockerignore"}; !slices.Equal(names, want) {
		t.Errorf("entries %q, want %q", names, want)
	}
	if got := m[".dockerignore"].content; got != "b.txt\nDockerfile\n" {
		t.Errorf(".dockerignore %q", got)
	}
	// Without a context .dockerignore, the one sent lists itself so the daemon drops it.
	os.Remove(filepath.Join(dir, ".dockerignore"))
	bc, names, m := prepare(t, dir, filepath.Join(dir, "dev/Dockerfile"), "")
	if want := []string{"Dockerfile", "Dockerfile.dockerignore", "dev/", "dev/Dockerfile", "dev/Dockerfile.dockerignore", ".dockerignore"}; bc.Dockerfile != "dev/Dockerfile" || !slices.Equal(names, want) {
		t.Errorf("dockerfile %q entries %q, want %q", bc.Dockerfile, names, want)
	}
	if got := m[".dockerignore"].content; got != ".dockerignore\na.txt\nb.txt\n" {
		t.Errorf(".dockerignore %q", got)
	}
}

func TestBuildContextStdin(t *testing.T) {
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	writeFileEntry(tw, "Dockerfile", 0o644, []byte("FROM busybox\n"))
	writeFileEntry(tw, "big", 0o644, bytes.Repeat([]byte("x"), 3000))
	tw.Close()
	var gzBuf bytes.Buffer
	zw := gzip.NewWriter(&gzBuf)
	zw.Write(tarBuf.Bytes())
	zw.Close()

	for _, tc := range []struct {
		name, stdin, dockerfile, wantDockerfile string
	}{
		{"tar", tarBuf.String(), "", ""},
		{"tar with -f", tarBuf.String(), "sub/Dockerfile.dev", "sub/Dockerfile.dev"},
		{"gzip", gzBuf.String(), "", ""},
	} {
		bc, err := PrepareBuildContext("-", tc.dockerfile, strings.NewReader(tc.stdin))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, _ := io.ReadAll(bc)
		if string(got) != tc.stdin || bc.Dockerfile != tc.wantDockerfile {
			t.Errorf("%s: sent %d bytes of %d, dockerfile %q", tc.name, len(got), len(tc.stdin), bc.Dockerfile)
		}
	}

	// A Dockerfile on stdin is a context of its own.
	bc, names, m := prepare(t, "-", "", "FROM busybox\nRUN true\n")
	if bc.Dockerfile != "Dockerfile" || !slices.Equal(names, []string{"Dockerfile"}) || m["Dockerfile"].content != "FROM busybox\nRUN true\n" {
		t.Errorf("stdin Dockerfile: %q %q", bc.Dockerfile, names)
	}
	_, err := PrepareBuildContext("-", "Dockerfile", strings.NewReader("FROM busybox\n"))
	if err == nil || err.Error() != "unable to prepare context from STDIN: ambiguous Dockerfile source: both stdin and flag correspond to Dockerfiles" {
		t.Errorf("ambiguous: %v", err)
	}
}

func TestBuildContextErrors(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"file": "x", "Dockerfile": "FROM a\n", "empty/": ""})
	real, _ := filepath.EvalSymlinks(dir)
	for _, tc := range []struct {
		ctx, dockerfile, want string
	}{
		{filepath.Join(dir, "nope"), "", `unable to prepare context: path "` + filepath.Join(dir, "nope") + `" not found`},
		{filepath.Join(dir, "file"), "", "unable to prepare context: context must be a directory: " + filepath.Join(real, "file")},
		{dir, filepath.Join(dir, "missing/Dockerfile"), "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat " + filepath.Join(dir, "missing") + ": no such file or directory"},
		{filepath.Join(dir, "empty"), "", "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat " + filepath.Join(real, "empty/Dockerfile") + ": no such file or directory"},
		{"-", "-", "invalid argument: can't use stdin for both build context and dockerfile"},
		{"https://example.com/ctx.tar", "", `unable to prepare context: building from a URL or Git repository is not supported, use a local directory or a tar on stdin: "https://example.com/ctx.tar"`},
		{"github.com/berth-dev/berth", "", `unable to prepare context: building from a URL or Git repository is not supported, use a local directory or a tar on stdin: "github.com/berth-dev/berth"`},
	} {
		_, err := PrepareBuildContext(tc.ctx, tc.dockerfile, strings.NewReader(""))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s -f %q:\n got %v\nwant %s", tc.ctx, tc.dockerfile, err, tc.want)
		}
	}
}

func TestBuildContextCloseStopsWalk(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"Dockerfile": "FROM a\n"}
	for i := range 200 {
		files[filepath.Join("d", strings.Repeat("f", i%50+1)+string(rune('a'+i%26)))] = strings.Repeat("z", 4096)
	}
	writeTree(t, dir, files)
	bc, err := PrepareBuildContext(dir, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	if _, err := io.ReadFull(bc, buf); err != nil {
		t.Fatal(err)
	}
	bc.Close() // returns only once the walk has stopped
	if err := bc.Err(); err != nil {
		t.Errorf("closing early is not a context error: %v", err)
	}
	if _, err := bc.Read(buf); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("read after close: %v", err)
	}
}

func TestPatternReachesUnder(t *testing.T) {
	for _, tc := range []struct {
		pattern, dir string
		want         bool
	}{
		{"build/artifact.bin", "build", true},
		{"build", "build/sub", true},
		{"other/x", "build", false},
		{"b*/x", "build", true},
		{"**/keep", "a/b", true},
		{"a/**/keep", "b", false},
		{"a/*/keep", "a/b", true},
		{"a/*/keep", "a/b/c", false},
		{"a/x/keep", "a/b", false},
	} {
		if got := patternReachesUnder(tc.pattern, tc.dir); got != tc.want {
			t.Errorf("patternReachesUnder(%q, %q) = %v", tc.pattern, tc.dir, got)
		}
	}
}

func TestIsArchive(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   bool
	}{
		{"FROM busybox\n", false},
		{"", false},
		{"\x1f\x8b\x08\x00", true},
		{"BZh91AY", true},
		{"\xfd7zXZ\x00", true},
		{"\x28\xb5\x2f\xfd", true},
	} {
		if got := isArchive([]byte(tc.header)); got != tc.want {
			t.Errorf("isArchive(%q) = %v", tc.header, got)
		}
	}
}
