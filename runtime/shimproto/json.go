package shimproto

import (
	"errors"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// The shim encodes and decodes its few JSON messages by hand: encoding/json
// (with reflect and fmt) would add about a megabyte to every shim's resident
// binary pages. The bytes are those encoding/json writes for the same values.

// RawJSON is a raw encoded JSON value, as json.RawMessage.
type RawJSON []byte

// MarshalJSON returns m, or null if it is empty.
func (m RawJSON) MarshalJSON() ([]byte, error) {
	if len(m) == 0 {
		return []byte("null"), nil
	}
	return m, nil
}

// UnmarshalJSON sets *m to a copy of data.
func (m *RawJSON) UnmarshalJSON(data []byte) error {
	*m = append((*m)[:0], data...)
	return nil
}

// MarshalLine encodes a Request or Response (or a pointer to one) as one JSON line.
func MarshalLine(v any) []byte {
	var b []byte
	switch r := v.(type) {
	case Request:
		b = AppendRequest(b, &r)
	case *Request:
		b = AppendRequest(b, r)
	case Response:
		b = AppendResponse(b, &r)
	case *Response:
		b = AppendResponse(b, r)
	default:
		panic("shimproto: MarshalLine of a non-message value")
	}
	return append(b, '\n')
}

// AppendRequest appends r's JSON encoding to b.
func AppendRequest(b []byte, r *Request) []byte {
	b = append(b, `{"op":`...)
	b = AppendString(b, r.Op)
	b = appendBoolField(b, `"stdin":`, r.Stdin)
	b = appendBoolField(b, `"stdout":`, r.Stdout)
	b = appendBoolField(b, `"stderr":`, r.Stderr)
	b = appendIntField(b, `"signal":`, int64(r.Signal))
	b = appendBoolField(b, `"all":`, r.All)
	b = appendIntField(b, `"width":`, int64(r.Width))
	b = appendIntField(b, `"height":`, int64(r.Height))
	if r.ExecID != "" {
		b = append(b, `,"exec_id":`...)
		b = AppendString(b, r.ExecID)
	}
	b = appendBoolField(b, `"tty":`, r.Tty)
	if len(r.Process) > 0 {
		b = append(b, `,"process":`...)
		b = append(b, r.Process...)
	}
	return append(b, '}')
}

// AppendResponse appends r's JSON encoding to b.
func AppendResponse(b []byte, r *Response) []byte {
	start := len(b)
	b = append(b, '{')
	field := func(name string) {
		if len(b) > start+1 {
			b = append(b, ',')
		}
		b = append(b, name...)
	}
	if r.Error != "" {
		field(`"error":`)
		b = AppendString(b, r.Error)
	}
	if r.Code != "" {
		field(`"code":`)
		b = AppendString(b, r.Code)
	}
	if r.Pid != 0 {
		field(`"pid":`)
		b = strconv.AppendInt(b, int64(r.Pid), 10)
	}
	if r.Status != "" {
		field(`"status":`)
		b = AppendString(b, r.Status)
	}
	if r.Exit != nil {
		field(`"exit":`)
		b = AppendExitStatus(b, r.Exit)
	}
	return append(b, '}')
}

// AppendExitStatus appends st's JSON encoding (the content of exit.json) to b.
func AppendExitStatus(b []byte, st *ExitStatus) []byte {
	b = append(b, `{"ExitCode":`...)
	b = strconv.AppendInt(b, int64(st.Code), 10)
	b = append(b, `,"ExitedAt":"`...)
	b = st.ExitedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","OOMKilled":`...)
	b = strconv.AppendBool(b, st.OOMKilled)
	b = append(b, `,"Error":`...)
	b = AppendString(b, st.Error)
	return append(b, '}')
}

func appendBoolField(b []byte, name string, v bool) []byte {
	if !v {
		return b
	}
	b = append(b, ',')
	b = append(b, name...)
	return append(b, "true"...)
}

func appendIntField(b []byte, name string, v int64) []byte {
	if v == 0 {
		return b
	}
	b = append(b, ',')
	b = append(b, name...)
	return strconv.AppendInt(b, v, 10)
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string, escaped as encoding/json does
// (HTML-safe, invalid UTF-8 as U+FFFD).
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		} else if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		} else {
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// ParseRequest decodes a Request line as encoding/json would (unknown fields
// are ignored, null leaves a field unset).
func ParseRequest(line []byte) (Request, error) {
	var r Request
	err := ScanObject(line, func(key string, v []byte) error {
		var err error
		switch {
		case eq(key, "op"):
			r.Op, err = optString(v)
		case eq(key, "stdin"):
			r.Stdin, err = parseBool(v)
		case eq(key, "stdout"):
			r.Stdout, err = parseBool(v)
		case eq(key, "stderr"):
			r.Stderr, err = parseBool(v)
		case eq(key, "signal"):
			var n int64
			n, err = parseInt(v, 64)
			r.Signal = int(n)
		case eq(key, "all"):
			r.All, err = parseBool(v)
		case eq(key, "width"):
			var n int64
			n, err = parseInt(v, 16)
			r.Width = uint16(n)
		case eq(key, "height"):
			var n int64
			n, err = parseInt(v, 16)
			r.Height = uint16(n)
		case eq(key, "exec_id"):
			r.ExecID, err = optString(v)
		case eq(key, "tty"):
			r.Tty, err = parseBool(v)
		case eq(key, "process"):
			r.Process = append(RawJSON(nil), v...)
		}
		if err != nil {
			return errors.New("field " + key + ": " + err.Error())
		}
		return nil
	})
	return r, err
}

// eq matches a key to a field name as encoding/json does (case-insensitively).
func eq(key, name string) bool {
	if len(key) != len(name) {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[i] {
			return false
		}
	}
	return true
}

var (
	errSyntax = errors.New("invalid JSON")
	errType   = errors.New("wrong JSON type")
)

func isNull(v []byte) bool { return string(v) == "null" }

func optString(v []byte) (string, error) {
	if isNull(v) {
		return "", nil
	}
	return ParseString(v)
}

func parseBool(v []byte) (bool, error) {
	switch string(v) {
	case "true":
		return true, nil
	case "false", "null":
		return false, nil
	}
	return false, errType
}

// parseInt decodes an integer that fits in bits (16: unsigned 16 bits).
func parseInt(v []byte, bits int) (int64, error) {
	if isNull(v) {
		return 0, nil
	}
	if bits == 16 {
		n, err := strconv.ParseUint(string(v), 10, 16)
		if err != nil {
			return 0, errType
		}
		return int64(n), nil
	}
	n, err := strconv.ParseInt(string(v), 10, bits)
	if err != nil {
		return 0, errType
	}
	return n, nil
}

// ScanObject calls fn with each key of the JSON object b and the raw bytes of
// its value, in order, until fn fails.
func ScanObject(b []byte, fn func(key string, value []byte) error) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errSyntax
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return trailing(b, i+1)
	}
	for {
		end, err := skipValue(b, i)
		if err != nil || b[i] != '"' {
			return errSyntax
		}
		key, err := ParseString(b[i:end])
		if err != nil {
			return err
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return errSyntax
		}
		i = skipSpace(b, i+1)
		end, err = skipValue(b, i)
		if err != nil {
			return err
		}
		if err := fn(key, b[i:end]); err != nil {
			return err
		}
		i = skipSpace(b, end)
		if i >= len(b) {
			return errSyntax
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return trailing(b, i+1)
		default:
			return errSyntax
		}
	}
}

func trailing(b []byte, i int) error {
	if skipSpace(b, i) != len(b) {
		return errSyntax
	}
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the JSON value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errSyntax
	}
	switch c := b[i]; {
	case c == '"':
		for i++; i < len(b); i++ {
			switch b[i] {
			case '\\':
				i++
				if i >= len(b) {
					return 0, errSyntax
				}
				switch b[i] {
				case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				case 'u':
					if _, ok := hex4(b[i+1:]); !ok {
						return 0, errSyntax
					}
					i += 4
				default:
					return 0, errSyntax
				}
			case '"':
				return i + 1, nil
			default:
				if b[i] < 0x20 {
					return 0, errSyntax
				}
			}
		}
		return 0, errSyntax
	case c == '{' || c == '[':
		close := byte('}')
		if c == '[' {
			close = ']'
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == close {
			return i + 1, nil
		}
		for {
			if c == '{' {
				if i >= len(b) || b[i] != '"' {
					return 0, errSyntax
				}
				end, err := skipValue(b, i)
				if err != nil {
					return 0, err
				}
				i = skipSpace(b, end)
				if i >= len(b) || b[i] != ':' {
					return 0, errSyntax
				}
				i = skipSpace(b, i+1)
			}
			end, err := skipValue(b, i)
			if err != nil {
				return 0, err
			}
			i = skipSpace(b, end)
			if i >= len(b) {
				return 0, errSyntax
			}
			if b[i] == close {
				return i + 1, nil
			}
			if b[i] != ',' {
				return 0, errSyntax
			}
			i = skipSpace(b, i+1)
		}
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range []string{"true", "false", "null"} {
			if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
				return i + len(lit), nil
			}
		}
		return 0, errSyntax
	case c == '-' || ('0' <= c && c <= '9'):
		return skipNumber(b, i)
	}
	return 0, errSyntax
}

// skipNumber returns the end of the JSON number starting at b[i]: -?int frac? exp?
func skipNumber(b []byte, i int) (int, error) {
	digits := func(i int) int {
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i
	}
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(i)
	default:
		return 0, errSyntax
	}
	if i < len(b) && b[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return 0, errSyntax
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return 0, errSyntax
		}
		i = j
	}
	return i, nil
}

// ParseString decodes the JSON string v (with its quotes), as encoding/json
// does: invalid UTF-8 and unpaired surrogates become U+FFFD.
func ParseString(v []byte) (string, error) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", errType
	}
	v = v[1 : len(v)-1]
	plain := true
	for _, c := range v {
		if c == '\\' || c == '"' || c < 0x20 || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		return string(v), nil
	}
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); {
		c := v[i]
		switch {
		case c == '\\':
			if i+1 >= len(v) {
				return "", errSyntax
			}
			switch e := v[i+1]; e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := hex4(v[i+2:])
				if !ok {
					return "", errSyntax
				}
				i += 6
				if utf16.IsSurrogate(r) {
					if i+1 < len(v) && v[i] == '\\' && v[i+1] == 'u' {
						if r2, ok := hex4(v[i+2:]); ok {
							if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
								i += 6
								out = utf8.AppendRune(out, dec)
								continue
							}
						}
					}
					r = utf8.RuneError
				}
				out = utf8.AppendRune(out, r)
				continue
			default:
				return "", errSyntax
			}
			i += 2
		case c == '"' || c < 0x20:
			return "", errSyntax
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(v[i:])
			i += size
			out = utf8.AppendRune(out, r)
		}
	}
	return string(out), nil
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
