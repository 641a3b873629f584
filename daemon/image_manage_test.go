package daemon

import (
	"testing"
	"time"

	"github.com/berth-dev/berth/errdefs"
	"github.com/distribution/reference"
)

func TestMatchReference(t *testing.T) {
	cases := []struct {
		pattern, ref string
		want         bool
	}{
		{"busybox", "busybox:latest", true},
		{"busybox:latest", "busybox:latest", true},
		{"busy*", "busybox:latest", true},
		{"busybox:1*", "busybox:latest", false},
		{"*/clock", "jpetazzo/clock:latest", true},
		{"*", "jpetazzo/clock:latest", false}, // path.Match: * stops at /
		{"jpetazzo/*", "jpetazzo/clock:v2", true},
		{"registry.example.com:5000/my-private/*", "registry.example.com:5000/my-private/image:latest", true},
		{"docker.io/library/busybox", "busybox:latest", false}, // familiar names only
		{"busybox", "busybox@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", true},
	}
	for _, c := range cases {
		if got := matchReference([]string{c.pattern}, c.ref); got != c.want {
			t.Errorf("reference=%s on %s: %v, want %v", c.pattern, c.ref, got, c.want)
		}
	}
}

func TestFilterBool(t *testing.T) {
	cases := []struct {
		vals    []string
		def     bool
		want    bool
		wantErr string
	}{
		{nil, true, true, ""},
		{[]string{"true"}, false, true, ""},
		{[]string{"1"}, false, true, ""},
		{[]string{"false"}, true, false, ""},
		{[]string{"0"}, true, false, ""},
		{[]string{"maybe"}, false, false, "invalid filter 'dangling=maybe'"},
		{[]string{"true", "false"}, false, false, "invalid filter 'dangling=true,false'"},
	}
	for _, c := range cases {
		f := map[string][]string{}
		if c.vals != nil {
			f["dangling"] = c.vals
		}
		got, err := filterBool(f, "dangling", c.def)
		if c.wantErr != "" {
			if err == nil || err.Error() != c.wantErr || !errdefs.IsInvalidParameter(err) {
				t.Errorf("%v: error %v, want %q", c.vals, err, c.wantErr)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%v: %v, %v; want %v", c.vals, got, err, c.want)
		}
	}
	if err := validateFilters(map[string][]string{"bogus": {"1"}}, imageListFilters); err == nil || err.Error() != "invalid filter 'bogus'" {
		t.Errorf("unknown filter: %v", err)
	}
}

func TestMatchKVList(t *testing.T) {
	labels := map[string]string{"tier": "web", "env": "prod"}
	cases := []struct {
		want []string
		ok   bool
	}{
		{nil, true},
		{[]string{"tier"}, true},
		{[]string{"tier=web"}, true},
		{[]string{"tier=db"}, false},
		{[]string{"tier=web", "env=prod"}, true},
		{[]string{"tier=web", "owner"}, false},
	}
	for _, c := range cases {
		if got := matchKVList(c.want, labels); got != c.ok {
			t.Errorf("label=%v: %v, want %v", c.want, got, c.ok)
		}
	}
	if matchKVList([]string{"tier"}, nil) {
		t.Error("an image without labels matched a label filter")
	}
}

func TestParseTimestamp(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Time
	}{
		{"24h", now.Add(-24 * time.Hour)},
		{"90m", now.Add(-90 * time.Minute)},
		{"1700000000", time.Unix(1700000000, 0)},
		{"1700000000.5", time.Unix(1700000000, 5e8)},
		{"2026-11-25T10:00:00Z", time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		got, err := parseTimestamp(c.in, now)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("%s: %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	if _, err := parseTimestamp("yesterday", now); !errdefs.IsInvalidParameter(err) {
		t.Errorf("bad timestamp: %v", err)
	}
}

func TestRepoTagReference(t *testing.T) {
	cases := []struct {
		repo, tag, want, wantErr string
	}{
		{"ubuntu", "", "docker.io/library/ubuntu:latest", ""},
		{"jpetazzo/clock", "v2", "docker.io/jpetazzo/clock:v2", ""},
		{"registry.example.com:5000/my-private/image", "", "registry.example.com:5000/my-private/image:latest", ""},
		{"Bad/Name", "", "", "invalid reference format: repository name (Name) must be lowercase"},
		{"ok", "bad:tag", "", "invalid tag format"},
		{"sha256", "x", "", "refusing to create an ambiguous tag using digest algorithm as name"},
		{"", "", "", "repository name must have at least one component"},
		{"busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "", "", "cannot import digest reference"},
	}
	for _, c := range cases {
		got, err := repoTagReference(c.repo, c.tag)
		if c.wantErr != "" {
			if err == nil || !errdefs.IsInvalidParameter(err) || err.Error() != c.wantErr {
				t.Errorf("%q %q: error %v, want %q", c.repo, c.tag, err, c.wantErr)
			}
			continue
		}
		if err != nil || got.String() != c.want {
			t.Errorf("%q %q: %v, %v; want %s", c.repo, c.tag, got, err, c.want)
		}
	}
}

func TestIsSingleReference(t *testing.T) {
	refs := func(ss ...string) []reference.Named {
		var out []reference.Named
		for _, s := range ss {
			r, err := reference.ParseNormalizedNamed(s)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		return out
	}
	d := "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	cases := []struct {
		refs []reference.Named
		want bool
	}{
		{nil, false},
		{refs("busybox:latest"), true},
		{refs("busybox:latest", "busybox"+d), true},
		{refs("busybox:latest", "busybox:1"), false},
		{refs("busybox:latest", "other"+d), false},
		{refs("busybox"+d, "other"+d), false},
	}
	for i, c := range cases {
		if got := isSingleReference(c.refs); got != c.want {
			t.Errorf("case %d: %v, want %v", i, got, c.want)
		}
	}
	if !isImageIDPrefix("sha256:5b7529c6da8d", "5b75") || !isImageIDPrefix("sha256:5b7529c6da8d", "sha256:5b") || isImageIDPrefix("sha256:5b7529c6da8d", "busybox") {
		t.Error("isImageIDPrefix")
	}
}

func TestDeleteConflictMessage(t *testing.T) {
	c := &deleteConflict{id: "sha256:5b7529c6da8d0123", message: "image is referenced in multiple repositories"}
	if c.Error() != "conflict: unable to delete 5b7529c6da8d (must be forced) - image is referenced in multiple repositories" || !errdefs.IsConflict(c) {
		t.Errorf("soft conflict: %v", c)
	}
	c.hard = true
	if c.Error() != "conflict: unable to delete 5b7529c6da8d (cannot be forced) - image is referenced in multiple repositories" {
		t.Errorf("hard conflict: %v", c)
	}
}
