package cli

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
)

// cpFake serves the archive endpoints of container "c" from the directory root, the way
// the daemon does: HEAD stats a path, GET archives it under its base name, PUT extracts.
func cpFake(t *testing.T, root string) *apiFake {
	f := newAPIFake(t)
	inRoot := func(p string) string { return preserveTrailingDotOrSeparator(filepath.Join(root, p), p) }
	stat := func(w http.ResponseWriter, p string) bool {
		fi, err := os.Lstat(filepath.Join(root, p))
		if err != nil {
			writeJSON(w, 404, map[string]string{"message": "Could not find the file " + p + " in container c"})
			return false
		}
		st := container.PathStat{Name: fi.Name(), Size: fi.Size(), Mode: fi.Mode(), Mtime: fi.ModTime()}
		if fi.Mode()&os.ModeSymlink != 0 {
			st.LinkTarget, _ = os.Readlink(filepath.Join(root, p))
		}
		b, _ := json.Marshal(st)
		w.Header().Set("X-Docker-Container-Path-Stat", base64.StdEncoding.EncodeToString(b))
		return true
	}
	f.on("HEAD /containers/c/archive", func(w http.ResponseWriter, r *http.Request) {
		if stat(w, r.URL.Query().Get("path")) {
			w.WriteHeader(200)
		}
	})
	f.on("GET /containers/c/archive", func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Query().Get("path")
		if !stat(w, p) {
			return
		}
		rc, err := tarResource(copyInfo{Path: inRoot(p)})
		if err != nil {
			t.Error(err)
			return
		}
		defer rc.Close()
		w.Header().Set("Content-Type", "application/x-tar")
		io.Copy(w, rc)
	})
	f.on("PUT /containers/c/archive", func(w http.ResponseWriter, r *http.Request) {
		dir := filepath.Join(root, r.URL.Query().Get("path"))
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			writeJSON(w, 404, map[string]string{"message": "Could not find the file " + r.URL.Query().Get("path") + " in container c"})
			return
		}
		if err := untar(r.Body, dir); err != nil {
			writeJSON(w, 400, map[string]string{"message": err.Error()})
			return
		}
		w.WriteHeader(200)
	})
	return f
}

// tree lists the files under dir as "path" or "path=content", sorted.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out = append(out, rel+"->"+l)
		case d.IsDir():
			out = append(out, rel+"/")
		default:
			b, _ := os.ReadFile(p)
			out = append(out, rel+"="+string(b))
		}
		return nil
	})
	return out
}

func write(t *testing.T, p, content string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func ctrRoot(t *testing.T) string {
	root := t.TempDir()
	write(t, filepath.Join(root, "etc/hostname"), "box\n")
	write(t, filepath.Join(root, "data/a.txt"), "A")
	write(t, filepath.Join(root, "data/sub/b.txt"), "B")
	os.Symlink("/etc/hostname", filepath.Join(root, "etc/hn-link"))
	os.Symlink("a.txt", filepath.Join(root, "data/rel-link"))
	return root
}

func TestCopyFromContainer(t *testing.T) {
	root := ctrRoot(t)
	f := cpFake(t, root)
	for _, tc := range []struct {
		name, src, dst string
		pre            func(dst string)
		want           []string
	}{
		{name: "file to new file", src: "c:/etc/hostname", dst: "out", want: []string{"out=box\n"}},
		{name: "file into existing dir", src: "c:/etc/hostname", dst: "d", pre: mkdir("d"), want: []string{"d/", "d/hostname=box\n"}},
		{name: "file over file", src: "c:/etc/hostname", dst: "f", pre: mkfile("f"), want: []string{"f=box\n"}},
		{name: "dir to new path", src: "c:/data", dst: "copy",
			want: []string{"copy/", "copy/a.txt=A", "copy/rel-link->a.txt", "copy/sub/", "copy/sub/b.txt=B"}},
		{name: "dir into existing dir", src: "c:/data", dst: "d", pre: mkdir("d"),
			want: []string{"d/", "d/data/", "d/data/a.txt=A", "d/data/rel-link->a.txt", "d/data/sub/", "d/data/sub/b.txt=B"}},
		{name: "dir contents into existing dir", src: "c:/data/.", dst: "d", pre: mkdir("d"),
			want: []string{"d/", "d/a.txt=A", "d/rel-link->a.txt", "d/sub/", "d/sub/b.txt=B"}},
		{name: "dir contents to new path", src: "c:/data/.", dst: "n",
			want: []string{"n/", "n/a.txt=A", "n/rel-link->a.txt", "n/sub/", "n/sub/b.txt=B"}},
		{name: "link copied as link", src: "c:/etc/hn-link", dst: "l", want: []string{"l->/etc/hostname"}},
		{name: "link followed with -L", src: "-L c:/etc/hn-link", dst: "l", want: []string{"l=box\n"}},
		{name: "relative link followed into dir", src: "-L c:/data/rel-link", dst: "d", pre: mkdir("d"), want: []string{"d/", "d/rel-link=A"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			local := t.TempDir()
			t.Chdir(local)
			if tc.pre != nil {
				tc.pre(local)
			}
			args := append([]string{"cp"}, strings.Fields(tc.src)...)
			code, out, errOut := f.run("", append(args, tc.dst)...)
			if code != 0 || out != "" || errOut != "" {
				t.Fatalf("cp: %d %q %q", code, out, errOut)
			}
			if got := tree(t, local); !slices.Equal(got, tc.want) {
				t.Errorf("local tree %q, want %q", got, tc.want)
			}
		})
	}
}

func mkdir(name string) func(string) {
	return func(dir string) { os.Mkdir(filepath.Join(dir, name), 0o755) }
}

func mkfile(name string) func(string) {
	return func(dir string) { os.WriteFile(filepath.Join(dir, name), []byte("old"), 0o644) }
}

func TestCopyFromContainerToStdoutAndErrors(t *testing.T) {
	root := ctrRoot(t)
	f := cpFake(t, root)
	code, out, _ := f.run("", "cp", "c:/data", "-")
	if code != 0 {
		t.Fatalf("cp to stdout: %d", code)
	}
	var names []string
	tr := tar.NewReader(strings.NewReader(out))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
	}
	if !slices.Equal(names, []string{"data/", "data/a.txt", "data/rel-link", "data/sub/", "data/sub/b.txt"}) {
		t.Errorf("tar entries %q", names)
	}

	local := t.TempDir()
	t.Chdir(local)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"c:/nope", "x"}, "Error response from daemon: Could not find the file /nope in container c\n"},
		{[]string{"c:/etc/hostname", "missing/dir/x"}, "invalid output path: directory \"" + filepath.Join(local, "missing/dir") + "\" does not exist\n"},
		{[]string{"c:/data", "c:/x"}, "copying between containers is not supported\n"},
		{[]string{"a", "b"}, "must specify at least one container source\n"},
	} {
		code, _, errOut := f.run("", append([]string{"cp"}, tc.args...)...)
		if code != 1 || errOut != tc.want {
			t.Errorf("cp %q: %d %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
	os.WriteFile("file", nil, 0o644)
	if code, _, errOut := f.run("", "cp", "c:/data", "file"); code != 1 || errOut != "cannot copy directory\n" {
		t.Errorf("dir over file: %d %q", code, errOut)
	}
	if code, _, errOut := f.run("", "cp", "c:/etc/hostname", "newdir/"); code != 1 || errOut != "no such directory\n" {
		t.Errorf("file to missing dir: %d %q", code, errOut)
	}
}

func TestCopyToContainer(t *testing.T) {
	local := t.TempDir()
	write(t, filepath.Join(local, "f.txt"), "F")
	write(t, filepath.Join(local, "dir/x"), "X")
	write(t, filepath.Join(local, "dir/y/z"), "Z")
	os.Symlink("f.txt", filepath.Join(local, "flink"))
	os.Link(filepath.Join(local, "dir/x"), filepath.Join(local, "dir/x-hard"))
	t.Chdir(local)
	for _, tc := range []struct {
		name, src, dst string
		want           []string
	}{
		{name: "file into dir", src: "f.txt", dst: "c:/etc", want: []string{"etc/", "etc/f.txt=F"}},
		{name: "file to new name", src: "f.txt", dst: "c:/etc/renamed", want: []string{"etc/", "etc/renamed=F"}},
		{name: "file over file", src: "f.txt", dst: "c:/etc/old", want: []string{"etc/", "etc/old=F"}},
		{name: "dir to new path", src: "dir", dst: "c:/newdir",
			want: []string{"etc/", "etc/old=old", "newdir/", "newdir/x=X", "newdir/x-hard=X", "newdir/y/", "newdir/y/z=Z"}},
		{name: "dir into dir", src: "./dir", dst: "c:/etc",
			want: []string{"etc/", "etc/dir/", "etc/dir/x=X", "etc/dir/x-hard=X", "etc/dir/y/", "etc/dir/y/z=Z", "etc/old=old"}},
		{name: "dir contents into dir", src: "dir/.", dst: "c:/etc",
			want: []string{"etc/", "etc/old=old", "etc/x=X", "etc/x-hard=X", "etc/y/", "etc/y/z=Z"}},
		{name: "link as link", src: "flink", dst: "c:/etc", want: []string{"etc/", "etc/flink->f.txt", "etc/old=old"}},
		{name: "link followed", src: "-L flink", dst: "c:/etc", want: []string{"etc/", "etc/flink=F", "etc/old=old"}},
		{name: "into linked dir", src: "f.txt", dst: "c:/etclink", want: []string{"etc/", "etc/f.txt=F", "etc/old=old", "etclink->etc"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			os.Mkdir(filepath.Join(root, "etc"), 0o755)
			if tc.name != "file into dir" && tc.name != "file to new name" {
				write(t, filepath.Join(root, "etc/old"), "old")
			}
			if tc.name == "into linked dir" {
				os.Symlink("etc", filepath.Join(root, "etclink"))
			}
			f := cpFake(t, root)
			args := append(append([]string{"cp"}, strings.Fields(tc.src)...), tc.dst)
			code, out, errOut := f.run("", args...)
			if code != 0 || out != "" || errOut != "" {
				t.Fatalf("cp: %d %q %q", code, out, errOut)
			}
			if got := tree(t, root); !slices.Equal(got, tc.want) {
				t.Errorf("container tree %q, want %q", got, tc.want)
			}
			if q := f.requests("PUT /containers/c/archive")[0].Query; q["noOverwriteDirNonDir"][0] != "true" || q["copyUIDGID"] != nil {
				t.Errorf("query %v", q)
			}
		})
	}
}

func TestCopyToContainerFromStdinAndErrors(t *testing.T) {
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "etc"), 0o755)
	write(t, filepath.Join(root, "file"), "x")
	f := cpFake(t, root)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "from-stdin", Mode: 0o600, Size: 2, Typeflag: tar.TypeReg})
	tw.Write([]byte("hi"))
	tw.Close()
	if code, _, errOut := f.run(buf.String(), "cp", "-a", "-", "c:/etc"); code != 0 {
		t.Fatalf("stdin: %d %q", code, errOut)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/from-stdin")); string(b) != "hi" {
		t.Errorf("extracted %q", b)
	}
	if q := f.only("PUT /containers/c/archive").Query; q["copyUIDGID"][0] != "true" {
		t.Errorf("-a must ask to keep owners: %v", q)
	}
	local := t.TempDir()
	write(t, filepath.Join(local, "d/x"), "X")
	write(t, filepath.Join(local, "f"), "F")
	t.Chdir(local)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-", "c:/file"}, `destination "c:/file" must be a directory` + "\n"},
		{[]string{"d", "c:/file"}, "cannot copy directory\n"},
		{[]string{"f", "c:/nodir/"}, "no such directory\n"},
		{[]string{"missing", "c:/etc"}, "lstat " + filepath.Join(local, "missing") + ": no such file or directory\n"},
		{[]string{"f", "c:/nodir/x"}, "Error response from daemon: Could not find the file /nodir in container c\n"},
	} {
		code, _, errOut := f.run("", append([]string{"cp"}, tc.args...)...)
		if code != 1 || errOut != tc.want {
			t.Errorf("cp %q: %d %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestCopySummaryOnTerminal(t *testing.T) {
	root := ctrRoot(t)
	f := cpFake(t, root)
	p := newPty(t, 24, 80)
	t.Chdir(t.TempDir())
	var errOut bytes.Buffer
	code := Main(t.Context(), []string{"-H", f.host, "cp", "c:/etc/hostname", "h"}, Streams{In: p.slave, Out: p.slave, Err: &errOut})
	if code != 0 || !strings.HasPrefix(errOut.String(), "Successfully copied 4B (transferred ") || !strings.HasSuffix(errOut.String(), "/h\n") {
		t.Errorf("summary: %d %q", code, errOut.String())
	}
}

// TestUntarStaysInside feeds archives that try to leave the destination.
func TestUntarStaysInside(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []tar.Header
		want    string
	}{
		{"dot-dot", []tar.Header{{Name: "../escape", Typeflag: tar.TypeReg, Mode: 0o644}}, "invalid entry name"},
		{"symlink then file through it", []tar.Header{
			{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/tmp"},
			{Name: "link/escape", Typeflag: tar.TypeReg, Mode: 0o644},
		}, "escapes"},
		{"hardlink out", []tar.Header{{Name: "h", Typeflag: tar.TypeLink, Linkname: "../../etc/passwd"}}, "invalid hardlink"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dst := filepath.Join(parent, "dst")
			os.Mkdir(dst, 0o755)
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			for _, h := range tc.entries {
				tw.WriteHeader(&h)
			}
			tw.Close()
			err := untar(&buf, dst)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(parent, "escape")); err == nil {
				t.Error("a file was written outside the destination")
			}
			if _, err := os.Stat("/tmp/escape"); err == nil {
				t.Error("a file was written through the symlink")
			}
		})
	}
}

func TestSplitCpArg(t *testing.T) {
	for _, tc := range []struct{ in, ctr, path string }{
		{"c:/etc", "c", "/etc"},
		{"/abs:path", "", "/abs:path"},
		{"./rel:path", "", "./rel:path"},
		{"plain", "", "plain"},
		{"c:", "c", ""},
		{"-", "", "-"},
	} {
		if c, p := splitCpArg(tc.in); c != tc.ctr || p != tc.path {
			t.Errorf("%q: got %q %q", tc.in, c, p)
		}
	}
}
