package cli

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
)

func TestEllipsis(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"sh", 20, "sh"},
		{"exactly-twenty-chars", 20, "exactly-twenty-chars"},
		{"sh -c 'while true; do sleep 1; done'", 20, "sh -c 'while true; …"},
		{"héllo wörld", 5, "héll…"},
		{"abc", 1, "a"},
		{"abc", 0, ""},
	} {
		if got := ellipsis(tc.in, tc.n); got != tc.want {
			t.Errorf("ellipsis(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestTruncateID(t *testing.T) {
	for in, want := range map[string]string{
		"sha256:6fd955f66c231c1a946653170d096a1ac72a6ab0ab0f5b5ac0b0d45ac5cc9ff3": "6fd955f66c23",
		"0123456789abcdef0123456789abcdef":                                        "0123456789ab",
		"short":                                                                   "short",
		"":                                                                        "",
	} {
		if got := truncateID(in); got != want {
			t.Errorf("truncateID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCreatedDurations(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		ago  time.Duration
		want string
	}{
		{0, "Less than a second ago"},
		{5 * time.Second, "5 seconds ago"},
		{90 * time.Second, "About a minute ago"},
		{2 * time.Minute, "2 minutes ago"},
		{time.Hour, "About an hour ago"},
		{3 * time.Hour, "3 hours ago"},
		{72 * time.Hour, "3 days ago"},
		{21 * 24 * time.Hour, "3 weeks ago"},
	} {
		r := &psRow{c: &container.Summary{Created: now.Add(-tc.ago).Unix()}, now: now}
		if got := r.RunningFor(); got != tc.want {
			t.Errorf("RunningFor(%v) = %q, want %q", tc.ago, got, tc.want)
		}
		ir := &imageRow{i: &image.Summary{Created: now.Add(-tc.ago).Unix()}, now: now}
		if got := ir.CreatedSince(); got != tc.want {
			t.Errorf("CreatedSince(%v) = %q, want %q", tc.ago, got, tc.want)
		}
	}
}

func TestSizes(t *testing.T) {
	for _, tc := range []struct {
		size int64
		want string
	}{
		{4261888, "4.26MB"},
		{0, "0B"},
		{999, "999B"},
		{1234567890, "1.23GB"},
		{77800000, "77.8MB"},
	} {
		r := &imageRow{i: &image.Summary{Size: tc.size}}
		if got := r.Size(); got != tc.want {
			t.Errorf("Size(%d) = %q, want %q", tc.size, got, tc.want)
		}
	}
	r := &psRow{c: &container.Summary{SizeRw: 12, SizeRootFs: 4261900}}
	if got, want := r.Size(), "12B (virtual 4.26MB)"; got != want {
		t.Errorf("ps Size = %q, want %q", got, want)
	}
	r = &psRow{c: &container.Summary{}}
	if got, want := r.Size(), "0B"; got != want {
		t.Errorf("ps Size = %q, want %q", got, want)
	}
	if got := units.HumanSizeWithPrecision(4261888, 3); got != "4.26MB" {
		t.Fatalf("go-units changed: %q", got)
	}
}

func TestDisplayPorts(t *testing.T) {
	ip := netip.MustParseAddr("0.0.0.0")
	for _, tc := range []struct {
		name  string
		ports []container.PortSummary
		want  string
	}{
		{"none", nil, ""},
		{"exposed", []container.PortSummary{{PrivatePort: 80, Type: "tcp"}}, "80/tcp"},
		{"range", []container.PortSummary{
			{PrivatePort: 8001, Type: "tcp"}, {PrivatePort: 8000, Type: "tcp"}, {PrivatePort: 8002, Type: "tcp"}, {PrivatePort: 9000, Type: "udp"},
		}, "8000-8002/tcp, 9000/udp"},
		{"published", []container.PortSummary{{IP: ip, PrivatePort: 80, PublicPort: 8080, Type: "tcp"}}, "0.0.0.0:8080->80/tcp"},
		{"same port", []container.PortSummary{{IP: ip, PrivatePort: 80, PublicPort: 80, Type: "tcp"}}, "0.0.0.0:80->80/tcp"},
		{"ipv6", []container.PortSummary{{IP: netip.MustParseAddr("::"), PrivatePort: 80, PublicPort: 8080, Type: "tcp"}}, "[::]:8080->80/tcp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := displayPorts(tc.ports); got != tc.want {
				t.Errorf("displayPorts = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTemplateText(t *testing.T) {
	for in, want := range map[string]string{
		"table":                      "",
		"json":                       "{{json .}}",
		`table {{.ID}}\t{{.Names}}`:  "{{.ID}}\t{{.Names}}",
		`{{.ID}}\n`:                  "{{.ID}}\n",
		"  {{.ID}}  ":                "{{.ID}}",
		"{{.Names}}: {{.Status}}\\t": "{{.Names}}: {{.Status}}\t",
	} {
		if got := templateText(in); got != want {
			t.Errorf("templateText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWriteRowsErrors(t *testing.T) {
	var out bytes.Buffer
	err := writeRows(&out, "{{.ID", psHeader, []*psRow{})
	if err == nil || !strings.HasPrefix(err.Error(), "template parsing error:") {
		t.Fatalf("err = %v, want template parsing error", err)
	}
	err = writeRows(&out, "{{.Nope}}", psHeader, []*psRow{{c: &container.Summary{}}})
	if err == nil || !strings.Contains(err.Error(), "Nope") {
		t.Fatalf("err = %v, want an error naming the missing field", err)
	}
}

func TestTemplateFuncs(t *testing.T) {
	rows := []*psRow{{c: &container.Summary{ID: "abc", Names: []string{"/web"}, Labels: map[string]string{"b": "2", "a": "1"}}, trunc: true}}
	for format, want := range map[string]string{
		`{{upper .Names}}`:                 "WEB\n",
		`{{lower "ABC"}}`:                  "abc\n",
		`{{title .Names}}`:                 "Web\n",
		`{{truncate .ID 2}}`:               "ab\n",
		`{{join (split .Labels ",") ";"}}`: "a=1;b=2\n",
		`[{{pad .Names 1 2}}]`:             "[ web  ]\n",
		`{{json .Names}}`:                  "\"web\"\n",
		`{{.Label "a"}}`:                   "1\n",
	} {
		var out bytes.Buffer
		if err := writeRows(&out, format, psHeader, rows); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if out.String() != want {
			t.Errorf("%s: got %q, want %q", format, out.String(), want)
		}
	}
}
