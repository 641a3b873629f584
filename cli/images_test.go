package cli

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/moby/moby/api/types/image"
	"github.com/spf13/pflag"
)

func imagesFixture() []image.Summary {
	return []image.Summary{
		{
			ID:          "sha256:6fd955f66c231c1a946653170d096a1ac72a6ab0ab0f5b5ac0b0d45ac5cc9ff3",
			RepoTags:    []string{"busybox:latest", "busybox:1.36"},
			RepoDigests: []string{"busybox@sha256:768e5c6f5cb6db0794eec98dc7a967f40631746c32232b78a3105fb946f3ab83"},
			Created:     psNow.Add(-14 * 24 * time.Hour).Unix(),
			Size:        4261888,
		},
		{
			ID:          "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			RepoTags:    []string{"127.0.0.1:5000/library/debian:bookworm"},
			RepoDigests: []string{},
			Created:     psNow.Add(-3 * time.Hour).Unix(),
			Size:        127000000,
		},
		{
			ID:      "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210",
			Created: psNow.Add(-50 * time.Minute).Unix(),
			Size:    1200,
		},
	}
}

func TestImagesDefaultTable(t *testing.T) {
	var out bytes.Buffer
	if err := writeImages(&out, imagesFormat(ImagesOptions{}), true, false, psNow, imagesFixture()); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"REPOSITORY                      TAG        IMAGE ID       CREATED          SIZE\n" +
		"busybox                         latest     6fd955f66c23   2 weeks ago      4.26MB\n" +
		"busybox                         1.36       6fd955f66c23   2 weeks ago      4.26MB\n" +
		"127.0.0.1:5000/library/debian   bookworm   0123456789ab   3 hours ago      127MB\n" +
		"<none>                          <none>     fedcba987654   50 minutes ago   1.2kB\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestImagesVariants(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  ImagesOptions
		items []image.Summary
		want  string
	}{
		{"quiet", ImagesOptions{Quiet: true}, imagesFixture(), "6fd955f66c23\n6fd955f66c23\n0123456789ab\nfedcba987654\n"},
		{"quiet no-trunc", ImagesOptions{Quiet: true, NoTrunc: true}, imagesFixture()[1:2],
			"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"},
		{"digests", ImagesOptions{Digests: true}, imagesFixture()[:1],
			"REPOSITORY   TAG       DIGEST                                                                    IMAGE ID       CREATED       SIZE\n" +
				"busybox      latest    sha256:768e5c6f5cb6db0794eec98dc7a967f40631746c32232b78a3105fb946f3ab83   6fd955f66c23   2 weeks ago   4.26MB\n" +
				"busybox      1.36      sha256:768e5c6f5cb6db0794eec98dc7a967f40631746c32232b78a3105fb946f3ab83   6fd955f66c23   2 weeks ago   4.26MB\n"},
		{"custom", ImagesOptions{Format: "{{.Repository}}:{{.Tag}} {{.Size}}"}, imagesFixture()[:2],
			"busybox:latest 4.26MB\nbusybox:1.36 4.26MB\n127.0.0.1:5000/library/debian:bookworm 127MB\n"},
		{"custom table with digests", ImagesOptions{Digests: true, Format: `table {{.Repository}}\t{{.ID}}`}, imagesFixture()[1:2],
			"REPOSITORY                      IMAGE ID       DIGEST\n127.0.0.1:5000/library/debian   0123456789ab   <none>\n"},
		{"digest only", ImagesOptions{}, []image.Summary{{ID: "sha256:aaaaaaaaaaaaaaaaaaaaaaaa", RepoDigests: []string{"busybox@sha256:768e5c6f5cb6db0794eec98dc7a967f40631746c32232b78a3105fb946f3ab83"}, Created: psNow.Unix()}},
			"REPOSITORY   TAG       IMAGE ID       CREATED                  SIZE\nbusybox      <none>    aaaaaaaaaaaa   Less than a second ago   0B\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := writeImages(&out, imagesFormat(tc.opts), !tc.opts.NoTrunc, tc.opts.Digests, psNow, tc.items); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", out.String(), tc.want)
			}
		})
	}
}

func TestImagesJSON(t *testing.T) {
	var out bytes.Buffer
	if err := writeImages(&out, "json", true, false, psNow, imagesFixture()[:1]); err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("want one JSON line per tag, got %q", out.String())
	}
	var m map[string]string
	if err := json.Unmarshal(lines[0], &m); err != nil {
		t.Fatal(err)
	}
	if m["Repository"] != "busybox" || m["Tag"] != "latest" || m["ID"] != "6fd955f66c23" || m["Size"] != "4.26MB" {
		t.Errorf("unexpected JSON: %v", m)
	}
}

func TestImagesFlags(t *testing.T) {
	fs := pflag.NewFlagSet("images", pflag.ContinueOnError)
	var got ImagesOptions
	addImagesFlags(fs, &got)
	if err := fs.Parse([]string{"-a", "-q", "--digests", "--no-trunc", "-f", "dangling=true", "--format", "{{.ID}}"}); err != nil {
		t.Fatal(err)
	}
	want := ImagesOptions{All: true, Quiet: true, Digests: true, NoTrunc: true, Filters: []string{"dangling=true"}, Format: "{{.ID}}"}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Errorf("got %s, want %s", gj, wj)
	}
}
