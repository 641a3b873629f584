package main

import (
	"os"
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     Config
		err      string
	}{
		{name: "course", in: "rest:\n  api_prefix: \"/api/iot\"\n  host: \"0.0.0.0\"\n  port: 7070\n", want: Config{"/api/iot", "0.0.0.0", 7070}},
		{name: "plain, single quotes, comments, CRLF", in: "# server\r\n---\r\nrest:   # section\r\n    api_prefix: /v1 # prefix\r\n\r\n    host: 'it''s'\r\n    port: \"5050\"  # quoted\r\n", want: Config{"/v1", "it's", 5050}},
		{name: "empty prefix", in: "rest:\n  api_prefix: \"\"\n  host: localhost\n  port: 1\n", want: Config{"", "localhost", 1}},
		{name: "hash inside a string", in: "rest:\n  api_prefix: \"/a#b\"\n  host: h\n  port: 2\n", want: Config{"/a#b", "h", 2}},
		{name: "empty file", in: "", err: `conf.yaml: no "rest:" section`},
		{name: "missing port", in: "rest:\n  api_prefix: /a\n  host: h\n", err: `conf.yaml: missing "port" under rest`},
		{name: "other top-level key", in: "server:\n  port: 1\n", err: `conf.yaml:1: unknown key "server" (want rest)`},
		{name: "unknown key", in: "rest:\n  debug: true\n", err: `conf.yaml:2: unknown key "debug" under rest`},
		{name: "duplicate key", in: "rest:\n  port: 1\n  port: 2\n", err: `conf.yaml:3: duplicate key "port"`},
		{name: "duplicate rest", in: "rest:\n  port: 1\nrest:\n", err: `conf.yaml:3: duplicate key "rest"`},
		{name: "bad port", in: "rest:\n  port: seventy\n", err: `conf.yaml:2: port "seventy" is not a number from 1 to 65535`},
		{name: "port out of range", in: "rest:\n  port: 70000\n", err: `conf.yaml:2: port "70000"`},
		{name: "prefix without slash", in: "rest:\n  api_prefix: api\n", err: `conf.yaml:2: api_prefix "api" must start with /`},
		{name: "rest with a scalar", in: "rest: 7070\n", err: "conf.yaml:1: rest must be a mapping"},
		{name: "inconsistent indentation", in: "rest:\n  host: h\n    port: 1\n", err: "conf.yaml:3: inconsistent indentation"},
		{name: "tab", in: "rest:\n\thost: h\n", err: "conf.yaml:2: tabs are not allowed"},
		{name: "indented before rest", in: "  host: h\n", err: `conf.yaml:1: unexpected indentation before "rest:"`},
		{name: "no colon", in: "rest:\n  host h\n", err: `conf.yaml:2: expected "key: value"`},
		{name: "unterminated string", in: "rest:\n  host: \"h\n", err: "conf.yaml:2: unterminated string"},
		{name: "junk after string", in: "rest:\n  host: \"h\" x\n", err: `conf.yaml:2: unexpected "x" after the value of host`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseConfig("conf.yaml", []byte(c.in))
			if c.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), c.err) {
					t.Fatalf("error %v, want one starting with %q", err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
}

// The shipped files parse, and print as the course's Python app prints its dict.
func TestShippedConfigs(t *testing.T) {
	for path, want := range map[string]string{
		"conf.yaml":         "{'rest': {'api_prefix': '/api/iot', 'host': '0.0.0.0', 'port': 7070}}",
		"../test_conf.yaml": "{'rest': {'api_prefix': '/api/iot', 'host': '0.0.0.0', 'port': 5050}}",
	} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := ParseConfig(path, data)
		if err != nil || cfg.String() != want {
			t.Errorf("%s: %q, %v; want %q", path, cfg, err, want)
		}
	}
}
