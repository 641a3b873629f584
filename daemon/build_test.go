package daemon

import (
	"strings"
	"testing"

	"github.com/moby/moby/api/types/jsonstream"
)

func streamMsg(s string) jsonstream.Message { return jsonstream.Message{Stream: s} }

func TestStageOutputKeepsStageOrder(t *testing.T) {
	var got []string
	o := newStageOutput(func(m jsonstream.Message) { got = append(got, m.Stream) }, []int{0, 2, 3})
	w0, w2, w3 := o.writer(0), o.writer(2), o.writer(3)
	w3(streamMsg("3a"))
	w0(streamMsg("0a"))
	w2(streamMsg("2a"))
	o.finish(3) // held until 0 and 2 are done
	w0(streamMsg("0b"))
	o.finish(0) // 2 streams now, 3 still waits for it
	w2(streamMsg("2b"))
	o.finish(2)
	if s := strings.Join(got, " "); s != "0a 0b 2a 2b 3a" {
		t.Fatalf("got %q", s)
	}

	got = nil
	o = newStageOutput(func(m jsonstream.Message) { got = append(got, m.Stream) }, []int{0, 1, 2})
	o.writer(0)(streamMsg("0a"))
	o.writer(1)(streamMsg("1a"))
	o.writer(2)(streamMsg("2a"))
	o.fail(2) // its held lines are shown, then nothing more
	o.writer(0)(streamMsg("0b"))
	o.finish(0)
	if s := strings.Join(got, " "); s != "0a 2a" {
		t.Fatalf("after a failure: got %q", s)
	}
}
