package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

type ent struct {
	hdr  tar.Header
	body string
}

func file(name, body string) ent {
	return ent{tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body))}, body}
}
func dir(name string) ent {
	return ent{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}}
}
func symlink(name, target string) ent {
	return ent{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}}
}
func hardlink(name, target string) ent {
	return ent{hdr: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target}}
}

func mkTar(t testing.TB, ents ...ent) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range ents {
		h := e.hdr
		if h.ModTime.IsZero() {
			h.ModTime = time.Unix(1700000000, 0)
		}
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	return b.Bytes()
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("test needs root")
		}
		t.Skip("test needs root")
	}
}

func apply(t *testing.T, dst string, data []byte, mode WhiteoutMode) (Result, error) {
	t.Helper()
	return Apply(context.Background(), dst, bytes.NewReader(data), Options{Whiteouts: mode})
}

func TestApplyEntries(t *testing.T) {
	requireRoot(t)
	mtime := time.Unix(1600000000, 123456789)
	raw := mkTar(t,
		ent{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "./", Mode: 0o755}},
		ent{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "d/", Mode: 0o711, ModTime: mtime, Uid: 1, Gid: 2}},
		ent{tar.Header{Typeflag: tar.TypeReg, Name: "d/f", Mode: 0o4750, Size: 5, Uid: 1000, Gid: 1001, ModTime: mtime,
			PAXRecords: map[string]string{"SCHILY.xattr.user.test": "v1", "SCHILY.xattr.trusted.overlay.opaque": "y"}}, "hello"},
		symlink("d/abs", "/etc/passwd"),
		hardlink("d/hl", "d/f"),
		ent{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Mode: 0o666, Devmajor: 1, Devminor: 3}},
		ent{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "fifo", Mode: 0o600}},
		file("/rooted/file", "x"),
		file("replaced", "old"),
		file("replaced", "new"),
		symlink("dir2link", "d"),
		dir("dir2link"),
		file("dir2link/in", "in"),
	)
	for _, tc := range []struct {
		name string
		comp func([]byte) []byte
	}{
		{"plain", func(b []byte) []byte { return b }},
		{"gzip", func(b []byte) []byte {
			var o bytes.Buffer
			w := gzip.NewWriter(&o)
			w.Write(b)
			w.Close()
			return o.Bytes()
		}},
		{"zstd", func(b []byte) []byte {
			var o bytes.Buffer
			w, _ := zstd.NewWriter(&o)
			w.Write(b)
			w.Close()
			return o.Bytes()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := t.TempDir()
			res, err := apply(t, dst, tc.comp(raw), WhiteoutOverlay)
			if err != nil {
				t.Fatal(err)
			}
			if want := digest.FromBytes(raw); res.DiffID != want || res.Size != int64(len(raw)) {
				t.Fatalf("result %+v, want %s %d", res, want, len(raw))
			}
			var st unix.Stat_t
			unix.Lstat(filepath.Join(dst, "d/f"), &st)
			if st.Mode&0o7777 != 0o4750 || st.Uid != 1000 || st.Gid != 1001 || st.Nlink != 2 || st.Mtim.Nano() != mtime.UnixNano() {
				t.Errorf("d/f: mode %o uid %d gid %d nlink %d mtime %d", st.Mode&0o7777, st.Uid, st.Gid, st.Nlink, st.Mtim.Nano())
			}
			if b, _ := os.ReadFile(filepath.Join(dst, "d/hl")); string(b) != "hello" {
				t.Errorf("hardlink content %q", b)
			}
			buf := make([]byte, 16)
			if n, err := unix.Lgetxattr(filepath.Join(dst, "d/f"), "user.test", buf); err != nil || string(buf[:n]) != "v1" {
				t.Errorf("xattr user.test: %q %v", buf[:n], err)
			}
			if _, err := unix.Lgetxattr(filepath.Join(dst, "d/f"), "trusted.overlay.opaque", buf); err == nil {
				t.Error("layer set an overlay xattr")
			}
			unix.Lstat(filepath.Join(dst, "d"), &st)
			if st.Mode&0o7777 != 0o711 || st.Uid != 1 || st.Gid != 2 || st.Mtim.Nano() != mtime.UnixNano() {
				t.Errorf("dir d: mode %o uid %d mtime %d", st.Mode&0o7777, st.Uid, st.Mtim.Nano())
			}
			if l, _ := os.Readlink(filepath.Join(dst, "d/abs")); l != "/etc/passwd" {
				t.Errorf("symlink = %q", l)
			}
			unix.Lstat(filepath.Join(dst, "dev/null"), &st)
			if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) || st.Mode&0o777 != 0o666 {
				t.Errorf("dev/null mode %o rdev %d", st.Mode, st.Rdev)
			}
			unix.Lstat(filepath.Join(dst, "fifo"), &st)
			if st.Mode&unix.S_IFMT != unix.S_IFIFO {
				t.Errorf("fifo mode %o", st.Mode)
			}
			if b, _ := os.ReadFile(filepath.Join(dst, "rooted/file")); string(b) != "x" {
				t.Error("absolute entry not placed under the root")
			}
			if b, _ := os.ReadFile(filepath.Join(dst, "replaced")); string(b) != "new" {
				t.Errorf("replaced = %q", b)
			}
			if fi, err := os.Lstat(filepath.Join(dst, "dir2link")); err != nil || !fi.IsDir() {
				t.Error("symlink not replaced by directory")
			}
			if _, err := os.Stat(filepath.Join(dst, "d/in")); err == nil {
				t.Error("wrote through a replaced symlink")
			}
		})
	}
}

func TestApplyWhiteoutsOverlayForm(t *testing.T) {
	requireRoot(t)
	dst := t.TempDir()
	_, err := apply(t, dst, mkTar(t,
		dir("a/"), file("a/.wh.gone", ""), file(".wh.top", ""), dir("opq/"), file("opq/.wh..wh..opq", ""), file("opq/new", "n"),
		file("x/.wh..wh..opq", ""), file(".wh..wh.plnk", ""),
	), WhiteoutOverlay)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a/gone", "top"} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(dst, n), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
			t.Errorf("%s is not a 0:0 whiteout: mode %o rdev %d err %v", n, st.Mode, st.Rdev, err)
		}
	}
	for _, d := range []string{"opq", "x"} {
		buf := make([]byte, 4)
		if n, err := unix.Lgetxattr(filepath.Join(dst, d), "trusted.overlay.opaque", buf); err != nil || string(buf[:n]) != "y" {
			t.Errorf("%s not opaque: %v", d, err)
		}
	}
	ents, _ := os.ReadDir(dst)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".wh.") {
			t.Errorf("whiteout marker %s written as a file", e.Name())
		}
	}
}

func TestApplyWhiteoutsDelete(t *testing.T) {
	dst := t.TempDir()
	if _, err := apply(t, dst, mkTar(t, file("a/x", "1"), file("a/y", "2"), file("b/z", "3"), file("c/old", "4"), file("top", "5")), WhiteoutDelete); err != nil {
		t.Fatal(err)
	}
	if _, err := apply(t, dst, mkTar(t, file("a/.wh.x", ""), file(".wh.b", ""), file(".wh.top", ""), dir("c/"), file("c/.wh..wh..opq", ""), file("c/new", "n")), WhiteoutDelete); err != nil {
		t.Fatal(err)
	}
	for n, want := range map[string]bool{"a/x": false, "a/y": true, "b": false, "top": false, "c/old": false, "c/new": true} {
		if _, err := os.Lstat(filepath.Join(dst, n)); (err == nil) != want {
			t.Errorf("%s exists=%v, want %v", n, err == nil, want)
		}
	}
}

// TestApplyContained feeds crafted layers that try to write outside the target.
func TestApplyContained(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ents    func(outside string) []ent
		wantErr bool
	}{
		{"dotdot", func(string) []ent { return []ent{file("../evil", "x")} }, true},
		{"nested dotdot", func(string) []ent { return []ent{file("a/../../evil", "x")} }, true},
		{"absolute", func(o string) []ent { return []ent{file(o+"/evil", "x")} }, false},
		{"symlink then file", func(o string) []ent { return []ent{symlink("lnk", o), file("lnk/evil", "x")} }, true},
		{"relative symlink then file", func(string) []ent { return []ent{symlink("lnk", "../../../../../../.."), file("lnk/evil", "x")} }, true},
		{"symlink chain then file", func(o string) []ent {
			return []ent{symlink("l1", o), symlink("l2", "l1"), file("l2/evil", "x")}
		}, true},
		{"symlink to file then file", func(o string) []ent { return []ent{symlink("lnk", o+"/secret"), file("lnk", "x")} }, false},
		{"symlink then dir", func(o string) []ent { return []ent{symlink("lnk", o), dir("lnk/sub/")} }, true},
		{"hardlink dotdot", func(string) []ent { return []ent{hardlink("hl", "../outside/secret")} }, true},
		{"hardlink absolute", func(o string) []ent { return []ent{hardlink("hl", o+"/secret")} }, true},
		{"hardlink through symlink", func(o string) []ent { return []ent{symlink("lnk", o), hardlink("hl", "lnk/secret")} }, true},
		{"whiteout through symlink", func(o string) []ent { return []ent{symlink("lnk", o), file("lnk/.wh.secret", "")} }, true},
		{"opaque through symlink", func(o string) []ent { return []ent{symlink("lnk", o), file("lnk/.wh..wh..opq", "")} }, true},
		{"whiteout dotdot", func(string) []ent { return []ent{file("a/.wh...", "")} }, true},
		{"device through symlink", func(o string) []ent {
			return []ent{symlink("lnk", o), {hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "lnk/fifo", Mode: 0o600}}}
		}, true},
		{"symlink replaced by hardlink to it", func(o string) []ent {
			return []ent{symlink("lnk", o), hardlink("hl", "lnk"), file("hl/evil", "x")}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			outside := filepath.Join(base, "outside")
			dst := filepath.Join(base, "a", "b", "c", "layer")
			os.MkdirAll(outside, 0o755)
			os.MkdirAll(dst, 0o755)
			os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600)
			_, err := apply(t, dst, mkTar(t, tc.ents(outside)...), WhiteoutOverlay)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			ents, _ := os.ReadDir(outside)
			if len(ents) != 1 {
				t.Fatalf("outside dir changed: %v", ents)
			}
			var st unix.Stat_t
			unix.Stat(filepath.Join(outside, "secret"), &st)
			if b, _ := os.ReadFile(filepath.Join(outside, "secret")); string(b) != "secret" || st.Nlink != 1 || st.Mode&0o777 != 0o600 {
				t.Fatalf("outside secret touched: %q nlink %d mode %o", b, st.Nlink, st.Mode&0o777)
			}
			for _, p := range []string{filepath.Join(base, "evil"), filepath.Join(base, "a", "evil"), filepath.Join(base, "a", "b", "evil"), filepath.Join(base, "a", "b", "c", "evil")} {
				if _, err := os.Lstat(p); err == nil {
					t.Fatalf("%s written", p)
				}
			}
		})
	}
}

// TestWhiteoutsOnOverlay unpacks two layers into their own directories, stacks them
// with a real overlay mount and checks the merged view.
func TestWhiteoutsOnOverlay(t *testing.T) {
	requireRoot(t)
	base := t.TempDir()
	lower, upper, rw, work, merged := filepath.Join(base, "l"), filepath.Join(base, "u"), filepath.Join(base, "rw"), filepath.Join(base, "w"), filepath.Join(base, "m")
	for _, d := range []string{lower, upper, rw, work, merged} {
		os.Mkdir(d, 0o755)
	}
	if _, err := apply(t, lower, mkTar(t, dir("a/"), file("a/x", "1"), file("a/y", "2"), file("b", "3"), dir("c/"), file("c/old", "4"), dir("c/sub/"), file("c/sub/deep", "5")), WhiteoutOverlay); err != nil {
		t.Fatal(err)
	}
	if _, err := apply(t, upper, mkTar(t, dir("a/"), file("a/.wh.x", ""), file(".wh.b", ""), dir("c/"), file("c/.wh..wh..opq", ""), file("c/new", "n")), WhiteoutOverlay); err != nil {
		t.Fatal(err)
	}
	opts := "lowerdir=" + upper + ":" + lower + ",upperdir=" + rw + ",workdir=" + work
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(merged, unix.MNT_DETACH)
	for n, want := range map[string]string{"a/x": "", "a/y": "2", "b": "", "c/old": "", "c/sub": "", "c/new": "n"} {
		b, err := os.ReadFile(filepath.Join(merged, n))
		if want == "" {
			if _, serr := os.Lstat(filepath.Join(merged, n)); serr == nil {
				t.Errorf("%s visible in merged view", n)
			}
			continue
		}
		if err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", n, b, err, want)
		}
	}
	if err := unix.Unmount(merged, 0); err != nil {
		t.Fatal(err)
	}
}

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{"a/b": "a/b", "./a/": "a", "/etc/x": "etc/x", "//x/../y": "y", ".": "", "./": "", "a/../b": "b"} {
		if got, err := CleanName(in); err != nil || got != want {
			t.Errorf("CleanName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"..", "../a", "a/../../b", "./../x"} {
		if _, err := CleanName(in); err == nil {
			t.Errorf("CleanName(%q) accepted", in)
		}
	}
}

func BenchmarkApply(b *testing.B) {
	var ents []ent
	for i := range 2000 {
		ents = append(ents, file("dir"+string(rune('a'+i%20))+"/f"+strings.Repeat("x", i%7)+string(rune('0'+i%10))+"_"+time.Duration(i).String(), strings.Repeat("z", 4096)))
	}
	raw := mkTar(b, ents...)
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(raw)
	w.Close()
	sum := sha256.Sum256(raw)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		dst := b.TempDir()
		res, err := Apply(context.Background(), dst, bytes.NewReader(gz.Bytes()), Options{})
		if err != nil || res.DiffID.Encoded() != digest.NewDigestFromBytes(digest.SHA256, sum[:]).Encoded() {
			b.Fatal(err)
		}
	}
}
