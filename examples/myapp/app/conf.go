package main

import (
	"fmt"
	"strconv"
	"strings"
)

// Config is the content of conf.yaml: the REST server's binding and its API base path.
type Config struct {
	APIPrefix string
	Host      string
	Port      int
}

// ParseConfig parses conf.yaml's one shape, a "rest:" mapping holding api_prefix, host
// and port; name is the file's name, used in error messages.
func ParseConfig(name string, data []byte) (Config, error) {
	var cfg Config
	seen := map[string]bool{}
	inRest, indent := false, -1
	for i, raw := range strings.Split(string(data), "\n") {
		errf := func(format string, a ...interface{}) error {
			return fmt.Errorf("%s:%d: %s", name, i+1, fmt.Sprintf(format, a...))
		}
		line := strings.TrimRight(raw, " \t\r")
		body := strings.TrimLeft(line, " ")
		if body == "" || body[0] == '#' || (body == "---" && len(seen) == 0 && !inRest) {
			continue
		}
		if body[0] == '\t' {
			return cfg, errf("tabs are not allowed in indentation")
		}
		key, value, err := splitKeyValue(body)
		if err != nil {
			return cfg, errf("%v", err)
		}
		depth := len(line) - len(body)
		if depth == 0 {
			if key != "rest" {
				return cfg, errf("unknown key %q (want rest)", key)
			}
			if inRest || len(seen) > 0 {
				return cfg, errf("duplicate key \"rest\"")
			}
			if value != "" {
				return cfg, errf("rest must be a mapping of api_prefix, host and port")
			}
			inRest = true
			continue
		}
		if !inRest {
			return cfg, errf("unexpected indentation before \"rest:\"")
		}
		if indent == -1 {
			indent = depth
		} else if depth != indent {
			return cfg, errf("inconsistent indentation")
		}
		if seen[key] {
			return cfg, errf("duplicate key %q", key)
		}
		seen[key] = true
		switch key {
		case "api_prefix":
			if value != "" && !strings.HasPrefix(value, "/") {
				return cfg, errf("api_prefix %q must start with /", value)
			}
			cfg.APIPrefix = value
		case "host":
			if value == "" {
				return cfg, errf("host is empty")
			}
			cfg.Host = value
		case "port":
			p, err := strconv.Atoi(value)
			if err != nil || p < 1 || p > 65535 {
				return cfg, errf("port %q is not a number from 1 to 65535", value)
			}
			cfg.Port = p
		default:
			return cfg, errf("unknown key %q under rest (want api_prefix, host or port)", key)
		}
	}
	if !inRest {
		return cfg, fmt.Errorf("%s: no \"rest:\" section", name)
	}
	for _, k := range []string{"api_prefix", "host", "port"} {
		if !seen[k] {
			return cfg, fmt.Errorf("%s: missing %q under rest", name, k)
		}
	}
	return cfg, nil
}

// splitKeyValue splits "key: value  # comment" and unquotes the value.
func splitKeyValue(s string) (key, value string, err error) {
	i := strings.Index(s, ":")
	if i <= 0 || (i+1 < len(s) && s[i+1] != ' ') {
		return "", "", fmt.Errorf("expected \"key: value\", got %q", s)
	}
	key, rest := s[:i], strings.TrimLeft(s[i+1:], " ")
	for _, c := range key {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return "", "", fmt.Errorf("invalid key %q", key)
		}
	}
	if rest == "" || rest[0] == '#' {
		return key, "", nil
	}
	switch rest[0] {
	case '"':
		end := 1
		for ; end < len(rest) && rest[end] != '"'; end++ {
			if rest[end] == '\\' {
				end++
			}
		}
		if end >= len(rest) {
			return "", "", fmt.Errorf("unterminated string in %q", s)
		}
		if value, err = strconv.Unquote(rest[:end+1]); err != nil {
			return "", "", fmt.Errorf("bad string %s", rest[:end+1])
		}
		rest = rest[end+1:]
	case '\'':
		var b strings.Builder
		end := 1
		for ; end < len(rest); end++ {
			if rest[end] == '\'' {
				if end+1 < len(rest) && rest[end+1] == '\'' {
					b.WriteByte('\'')
					end++
					continue
				}
				break
			}
			b.WriteByte(rest[end])
		}
		if end >= len(rest) {
			return "", "", fmt.Errorf("unterminated string in %q", s)
		}
		value, rest = b.String(), rest[end+1:]
	default:
		if j := strings.Index(rest, " #"); j >= 0 {
			rest = rest[:j]
		}
		return key, strings.TrimRight(rest, " "), nil
	}
	if t := strings.TrimLeft(rest, " "); t != "" && t[0] != '#' {
		return "", "", fmt.Errorf("unexpected %q after the value of %s", t, key)
	}
	return key, value, nil
}

// String prints the configuration as the course's Python app does (a dict's repr).
func (c Config) String() string {
	return fmt.Sprintf("{'rest': {'api_prefix': %s, 'host': %s, 'port': %d}}", pyRepr(c.APIPrefix), pyRepr(c.Host), c.Port)
}

func pyRepr(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
