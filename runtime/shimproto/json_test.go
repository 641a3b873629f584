package shimproto

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Strings that exercise every escaping rule of encoding/json.
var tricky = []string{
	"", "plain", `quote " backslash \ slash /`, "<script>&amp;</script>",
	"ctl \x00\x01\x08\x0c\x1f \b\f\n\r\t end", "\x7f", "héllo 世界 🐳",
	"bad \xff\xfe utf8 \xe2\x82", "line\u2028para\u2029", "\ufffd",
}

func TestRequestMatchesEncodingJSON(t *testing.T) {
	reqs := []Request{
		{},
		{Op: OpStart},
		{Op: OpAttach, Stdin: true, Stdout: true, Stderr: true},
		{Op: OpKill, Signal: 9, All: true},
		{Op: OpKill, Signal: -1},
		{Op: OpResize, Width: 65535, Height: 1},
		{Op: OpExec, ExecID: "e1", Tty: true, Stdin: true, Process: RawJSON(`{"args":["sh","-c","echo \u003c"],"env":[],"cwd":"/","user":{"uid":0,"gid":0}}`)},
		{Op: OpExecState, ExecID: "x"},
	}
	for _, s := range tricky {
		reqs = append(reqs, Request{Op: s, ExecID: s})
	}
	for _, r := range reqs {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		line := MarshalLine(r)
		if got := string(line); got != string(want)+"\n" {
			t.Errorf("MarshalLine(%+v)\n got %s\nwant %s", r, got, want)
		}
		if got := MarshalLine(&r); !bytes.Equal(got, line) {
			t.Errorf("MarshalLine(&r) = %s, want %s", got, line)
		}
		// What encoding/json decodes from the line is what ParseRequest decodes.
		var viaJSON Request
		if err := json.Unmarshal(line, &viaJSON); err != nil {
			t.Fatalf("encoding/json rejects %s: %v", line, err)
		}
		got, err := ParseRequest(line)
		if err != nil {
			t.Fatalf("ParseRequest(%s): %v", line, err)
		}
		if !reflect.DeepEqual(got, viaJSON) {
			t.Errorf("ParseRequest(%s)\n got %+v\nwant %+v", line, got, viaJSON)
		}
		if !strings.ContainsRune(r.Op, 0xfffd) && !strings.Contains(r.Op, "\xff") && !strings.Contains(r.Op, "\xe2\x82") && !reflect.DeepEqual(got, r) {
			t.Errorf("round trip of %+v gave %+v", r, got)
		}
	}
}

func TestParseRequestLikeEncodingJSON(t *testing.T) {
	for _, line := range []string{
		` { "op" : "kill" , "signal" : 15 , "all" : true } ` + "\n",
		`{"OP":"state","Exec_ID":"a","unknown":{"x":[1,2.5e3,-0.1,true,null,"s"]},"tty":false}`,
		`{"op":null,"stdin":null,"signal":null,"process":null}`,
		`{"op":"a","op":"b"}`,
		`{"op":"\u00e9\ud83d\udc33\ud800x\udc00\/"}`,
		`{"process":{ "args" : ["a"] }}`,
		`{}`,
	} {
		var want Request
		if err := json.Unmarshal([]byte(line), &want); err != nil {
			t.Fatalf("encoding/json rejects %s: %v", line, err)
		}
		got, err := ParseRequest([]byte(line))
		if err != nil {
			t.Errorf("ParseRequest(%s): %v", line, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ParseRequest(%s)\n got %+v\nwant %+v", line, got, want)
		}
	}
	for _, line := range []string{
		``, `[]`, `"op"`, `{`, `{"op":}`, `{"op":"a",}`, `{"op":"a"} x`, `{"op":"a\x"}`,
		`{"signal":01}`, `{"signal":1.}`, `{"signal":-}`, `{"signal":1e}`, `{"op":"a` + "\x01" + `"}`,
		`{"signal":"9"}`, `{"signal":1.5}`, `{"width":70000}`, `{"width":-1}`, `{"stdin":1}`, `{"op":true}`,
		`{"x":[1,]}`, `{"x":{"a"}}`, `{"x":tru}`, `{"op":"\ud8"}`,
	} {
		var v Request
		jsonErr := json.Unmarshal([]byte(line), &v)
		if _, err := ParseRequest([]byte(line)); err == nil || jsonErr == nil {
			t.Errorf("%s: ParseRequest error %v, encoding/json error %v; want both to fail", line, err, jsonErr)
		}
	}
}

func TestResponseMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 890123000, time.UTC)
	resps := []Response{
		{},
		{Pid: 1234},
		{Pid: 1, Status: StatusRunning},
		{Error: "Container c1 is not running", Code: CodeConflict},
		{Exit: &ExitStatus{}},
		{Exit: &ExitStatus{Code: 137, ExitedAt: at, OOMKilled: true, Error: "oom <&>"}},
		{Pid: 7, Status: StatusStopped, Exit: &ExitStatus{Code: 0, ExitedAt: at.Truncate(time.Second)}},
		{Exit: &ExitStatus{ExitedAt: at.In(time.FixedZone("X", -5*3600))}},
	}
	for _, s := range tricky {
		resps = append(resps, Response{Error: s, Code: s, Status: s, Exit: &ExitStatus{Error: s}})
	}
	for _, r := range resps {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := MarshalLine(r); string(got) != string(want)+"\n" {
			t.Errorf("MarshalLine(%+v)\n got %s\nwant %s", r, got, want)
		}
		if r.Exit != nil {
			want, _ := json.Marshal(r.Exit)
			if got := AppendExitStatus(nil, r.Exit); string(got) != string(want) {
				t.Errorf("AppendExitStatus\n got %s\nwant %s", got, want)
			}
			var back ExitStatus
			if err := json.Unmarshal(want, &back); err != nil || !back.ExitedAt.Equal(r.Exit.ExitedAt) || back.Code != r.Exit.Code {
				t.Errorf("exit status does not round-trip: %s: %v", want, err)
			}
		}
	}
}

func TestParseStringLikeEncodingJSON(t *testing.T) {
	inputs := []string{`""`, `"a\"b\\c\/d\b\f\n\r\t"`, `"\u0041\u00e9\u4e16"`, `"\ud83d\udc33"`,
		`"\ud83d"`, `"\udc33"`, `"\ud83dx"`, `"\ud83d\u0041"`, `"\ud83d\ud83d\udc33"`, "\"raw \xff utf8\"", `"é🐳"`}
	for _, s := range tricky {
		b, _ := json.Marshal(s)
		inputs = append(inputs, string(b))
	}
	for _, in := range inputs {
		var want string
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatalf("encoding/json rejects %s: %v", in, err)
		}
		got, err := ParseString([]byte(in))
		if err != nil || got != want {
			t.Errorf("ParseString(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestScanObjectValidatesLikeEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`{}`, ` {"a" : [ ] , "b":{ }} `, `{"a":[1,-2,3.5,1e9,1E-2,0.0]}`, `{"a":"\u12ab"}`,
		`{"a":[{"b":[null,true,false]}]}`, `{"a":1}}`, `{"a":[}`, `{"a":"\u12g4"}`, `{"a":-01}`,
		`{"a":.5}`, `{"a":+1}`, `{"a" 1}`, `{1:2}`, `{"a":1 "b":2}`, `{"a":[1 2]}`, `{"a":nul}`,
	} {
		err := ScanObject([]byte(in), func(string, []byte) error { return nil })
		if (err == nil) != json.Valid([]byte(in)) {
			t.Errorf("ScanObject(%s) error %v, json.Valid %v", in, err, json.Valid([]byte(in)))
		}
	}
}
