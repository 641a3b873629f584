package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"text/template"
	"unicode/utf8"

	"github.com/moby/moby/api/types/container"
)

// Format keys with a meaning of their own; anything else is a Go template.
const (
	tableFormat = "table"
	jsonFormat  = "json"
)

// templateFuncs are the functions docker offers in --format templates.
var templateFuncs = template.FuncMap{
	"json":     formatJSON,
	"split":    strings.Split,
	"join":     joinElements,
	"title":    titleCase,
	"lower":    strings.ToLower,
	"upper":    strings.ToUpper,
	"pad":      padWithSpace,
	"truncate": truncateWithLength,
}

// headerFuncs replace templateFuncs when rendering a table header, leaving header text as is.
var headerFuncs = template.FuncMap{
	"json":     func(v string) string { return v },
	"split":    func(v string, _ string) string { return v },
	"join":     func(v string, _ string) string { return v },
	"title":    func(v string) string { return v },
	"lower":    func(v string) string { return v },
	"upper":    func(v string) string { return v },
	"pad":      func(v string, _, _ int) string { return v },
	"truncate": func(v string, _ int) string { return v },
}

// parseTemplate parses a user template with docker's functions.
func parseTemplate(format string) (*template.Template, error) {
	return template.New("").Funcs(templateFuncs).Parse(format)
}

// headerContext maps placeholder names to column titles.
type headerContext map[string]string

// Label titles a {{.Label "name"}} column with the label's last dotted component.
func (headerContext) Label(name string) string {
	parts := strings.Split(name, ".")
	return strings.NewReplacer("-", " ", "_", " ").Replace(parts[len(parts)-1])
}

// templateText turns a --format value into template text: "table" is dropped, "json"
// becomes {{json .}}, and the escapes \t and \n become tab and newline.
func templateText(format string) string {
	switch format {
	case tableFormat:
		return ""
	case jsonFormat:
		return "{{json .}}"
	}
	format = strings.TrimPrefix(format, tableFormat)
	format = strings.Trim(format, " ")
	return strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format)
}

// writeRows renders rows with format; a "table …" format gets a header row from header and
// columns aligned like docker's (minimum width 10, padding 3).
func writeRows[T any](w io.Writer, format string, header headerContext, rows []T) error {
	tmpl, err := parseTemplate(templateText(format))
	if err != nil {
		return fmt.Errorf("template parsing error: %w", err)
	}
	var buf bytes.Buffer
	for _, r := range rows {
		if err := tmpl.Execute(&buf, r); err != nil {
			return fmt.Errorf("template parsing error: %w", err)
		}
		buf.WriteByte('\n')
	}
	if !strings.HasPrefix(format, tableFormat) {
		_, err := buf.WriteTo(w)
		return err
	}
	tw := tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
	if err := tmpl.Funcs(headerFuncs).Execute(tw, header); err != nil {
		return fmt.Errorf("template parsing error: %w", err)
	}
	tw.Write([]byte{'\n'})
	buf.WriteTo(tw)
	return tw.Flush()
}

// checkTemplate parses format and executes it on sample, reporting errors like docker.
func checkTemplate(format string, sample any) error {
	tmpl, err := parseTemplate(templateText(format))
	if err != nil {
		return fmt.Errorf("failed to parse template: %w", err)
	}
	if err := tmpl.Execute(io.Discard, sample); err != nil {
		return fmt.Errorf("failed to execute template: %w", err)
	}
	return nil
}

func formatJSON(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // text/template reports a panicking function as an execution error
	}
	return strings.TrimSpace(buf.String())
}

func joinElements(elems any, sep string) (string, error) {
	if elems == nil {
		return "", nil
	}
	if ss, ok := elems.([]string); ok {
		return strings.Join(ss, sep), nil
	}
	switch rv := reflect.ValueOf(elems); rv.Kind() {
	case reflect.Array, reflect.Slice:
		parts := make([]string, rv.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(rv.Index(i).Interface())
		}
		return strings.Join(parts, sep), nil
	case reflect.Map:
		parts := make([]string, 0, rv.Len())
		for _, k := range rv.MapKeys() {
			parts = append(parts, fmt.Sprint(rv.MapIndex(k).Interface()))
		}
		sort.Strings(parts)
		return strings.Join(parts, sep), nil
	}
	return "", fmt.Errorf("expected slice, got %T", elems)
}

func titleCase(s string) string {
	b := []byte(s)
	for i := range b {
		if (i == 0 || b[i-1] == ' ') && b[i] >= 'a' && b[i] <= 'z' {
			b[i] -= 'a' - 'A'
		}
	}
	return string(b)
}

func padWithSpace(s string, prefix, suffix int) string {
	if s == "" {
		return s
	}
	return strings.Repeat(" ", prefix) + s + strings.Repeat(" ", suffix)
}

func truncateWithLength(s string, n int) string {
	if len(s) < n {
		return s
	}
	return s[:n]
}

// truncateID shortens an ID to 12 characters, dropping an algorithm prefix like "sha256:".
func truncateID(id string) string {
	if i := strings.IndexByte(id, ':'); i >= 0 {
		id = id[i+1:]
	}
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// ellipsis shortens s to at most n characters, ending it with "…" when cut.
func ellipsis(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	if n == 1 {
		return string(r[0])
	}
	return string(r[:n-1]) + "…"
}

// displayPorts renders published and exposed ports like docker's PORTS column, grouping
// consecutive ports into ranges.
func displayPorts(ports []container.PortSummary) string {
	type group struct{ first, last uint16 }
	ports = slices.Clone(ports)
	sort.Slice(ports, func(i, j int) bool {
		a, b := ports[i], ports[j]
		if a.PrivatePort != b.PrivatePort {
			return a.PrivatePort < b.PrivatePort
		}
		if a.IP != b.IP {
			return a.IP.String() < b.IP.String()
		}
		if a.PublicPort != b.PublicPort {
			return a.PublicPort < b.PublicPort
		}
		return a.Type < b.Type
	})
	groups := map[string]*group{}
	var keys, out, mappings []string
	for _, p := range ports {
		key := p.Type
		if p.IP.IsValid() {
			if p.PublicPort != p.PrivatePort {
				host := net.JoinHostPort(p.IP.String(), strconv.Itoa(int(p.PublicPort)))
				mappings = append(mappings, fmt.Sprintf("%s->%d/%s", host, p.PrivatePort, p.Type))
				continue
			}
			key = p.IP.String() + "/" + p.Type
		}
		g := groups[key]
		switch {
		case g == nil:
			groups[key] = &group{p.PrivatePort, p.PrivatePort}
			keys = append(keys, key)
		case p.PrivatePort == g.last+1:
			g.last = p.PrivatePort
		default:
			out = append(out, portGroup(key, g.first, g.last))
			groups[key] = &group{p.PrivatePort, p.PrivatePort}
		}
	}
	for _, k := range keys {
		out = append(out, portGroup(k, groups[k].first, groups[k].last))
	}
	return strings.Join(append(out, mappings...), ", ")
}

func portGroup(key string, first, last uint16) string {
	ip, typ, hasIP := strings.Cut(key, "/")
	if !hasIP {
		typ, ip = key, ""
	}
	r := strconv.Itoa(int(first))
	if first != last {
		r += "-" + strconv.Itoa(int(last))
	}
	if ip != "" {
		r = net.JoinHostPort(ip, r) + "->" + r
	}
	return r + "/" + typ
}

// listFormats are an ls command's templates for -q, the default table and "raw".
type listFormats struct{ quiet, table, rawQuiet, raw string }

// listFormat resolves an ls command's --format (with -q) into a template, as docker does.
func listFormat(format string, quiet bool, f listFormats) string {
	switch {
	case (format == "" || format == tableFormat) && quiet:
		return f.quiet
	case format == "" || format == tableFormat:
		return f.table
	case format == "raw" && quiet:
		return f.rawQuiet
	case format == "raw":
		return f.raw
	}
	return format
}
