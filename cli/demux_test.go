package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestDemux(t *testing.T) {
	var in bytes.Buffer
	in.Write(frame(1, "out1\n"))
	in.Write(frame(2, "err1\n"))
	in.Write(frame(1, "out2\n"))
	in.Write(frame(1, ""))
	var out, errb bytes.Buffer
	n, err := demux(&out, &errb, &in)
	if err != nil || out.String() != "out1\nout2\n" || errb.String() != "err1\n" || n != 15 {
		t.Fatalf("n=%d err=%v out=%q err=%q", n, err, out.String(), errb.String())
	}
	_, err = demux(&out, &errb, bytes.NewReader(frame(3, "boom")))
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("systemerr frame: %v", err)
	}
	_, err = demux(&out, &errb, bytes.NewReader(append(frame(1, "x"), 9, 0, 0, 0, 0, 0, 0, 1, 'y')))
	if err == nil {
		t.Error("bad stream id accepted")
	}
	// truncated payload is an error, not silence
	if _, err := demux(&out, &errb, bytes.NewReader(frame(1, "abcdef")[:10])); err == nil {
		t.Error("truncated frame accepted")
	}
}

func BenchmarkDemuxSmallFrames(b *testing.B) {
	var in bytes.Buffer
	for i := 0; i < 100000; i++ {
		in.Write(frame(1, "a line of log output of ordinary length, 60 bytes or so\n"))
	}
	data := in.Bytes()
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		demux(discard{}, discard{}, bytes.NewReader(data))
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
