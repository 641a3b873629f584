package distribution

import (
	"sync"
	"time"

	"github.com/moby/moby/api/types/jsonstream"
)

// progressInterval throttles Downloading and Extracting messages.
const progressInterval = 100 * time.Millisecond

// output serialises progress messages from concurrent layer jobs.
type output struct {
	mu sync.Mutex
	fn func(jsonstream.Message)
}

func (o *output) send(m jsonstream.Message) {
	if o.fn == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fn(m)
}

// status sends a status line; a layer's (id != "") carries an empty progressDetail as dockerd's does.
func (o *output) status(id, status string) {
	m := jsonstream.Message{ID: id, Status: status}
	if id != "" {
		m.Progress = &jsonstream.Progress{}
	}
	o.send(m)
}

// meter reports current/total of one layer phase, at most every progressInterval.
type meter struct {
	out     *output
	id      string
	status  string
	total   int64
	current int64
	last    time.Time
}

func (m *meter) add(n int64) {
	m.current += n
	if now := time.Now(); now.Sub(m.last) >= progressInterval {
		m.last = now
		m.flush()
	}
}

func (m *meter) flush() {
	m.out.send(jsonstream.Message{ID: m.id, Status: m.status, Progress: &jsonstream.Progress{Current: m.current, Total: m.total}})
}

// countingReader feeds a meter as it is read.
type countingReader struct {
	r interface{ Read([]byte) (int, error) }
	m *meter
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.m.add(int64(n))
	return n, err
}
