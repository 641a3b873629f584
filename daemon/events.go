package daemon

import (
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"
)

const eventBacklog = 1024

// Event is one engine event with the legacy fields older clients still read.
type Event struct {
	events.Message
	Status string `json:"status,omitempty"`
	ID     string `json:"id,omitempty"`
	From   string `json:"from,omitempty"`
}

// EventFilter selects events as GET /events?filters= does.
type EventFilter map[string][]string

func (f EventFilter) match(e *Event) bool {
	match := func(key string, vals ...string) bool {
		want := f[key]
		if len(want) == 0 {
			return true
		}
		for _, w := range want {
			for _, v := range vals {
				if v != "" && (v == w || (key == "container" || key == "image") && strings.HasPrefix(v, w)) {
					return true
				}
			}
		}
		return false
	}
	a := e.Actor.Attributes
	labelOK := true
	for _, l := range f["label"] {
		k, v, hasV := strings.Cut(l, "=")
		got, ok := a[k]
		if !ok || hasV && got != v {
			labelOK = false
		}
	}
	return labelOK &&
		match("type", string(e.Type)) &&
		match("event", string(e.Action), strings.SplitN(string(e.Action), ":", 2)[0]) &&
		(e.Type != events.ContainerEventType || match("container", e.Actor.ID, a["name"])) &&
		(len(f["container"]) == 0 || e.Type == events.ContainerEventType) &&
		(len(f["image"]) == 0 || match("image", a["image"], e.Actor.ID))
}

// eventLog keeps recent events and fans new ones out to subscribers.
type eventLog struct {
	mu   sync.Mutex
	ring []Event
	next int
	full bool
	subs map[chan Event]struct{}
}

func newEventLog() *eventLog {
	return &eventLog{ring: make([]Event, eventBacklog), subs: map[chan Event]struct{}{}}
}

func (l *eventLog) publish(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ring[l.next] = e
	l.next = (l.next + 1) % len(l.ring)
	if l.next == 0 {
		l.full = true
	}
	for ch := range l.subs {
		select {
		case ch <- e:
		default: // a subscriber too slow to keep up loses events rather than stall the engine
		}
	}
}

// subscribe returns the stored events since `since` and a channel of new ones.
func (l *eventLog) subscribe(since time.Time) ([]Event, chan Event, func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var past []Event
	if !since.IsZero() {
		start, n := 0, l.next
		if l.full {
			start, n = l.next, len(l.ring)
		}
		for i := 0; i < n; i++ {
			e := l.ring[(start+i)%len(l.ring)]
			if e.TimeNano >= since.UnixNano() {
				past = append(past, e)
			}
		}
	}
	ch := make(chan Event, 256)
	l.subs[ch] = struct{}{}
	return past, ch, func() {
		l.mu.Lock()
		delete(l.subs, ch)
		l.mu.Unlock()
	}
}

// emit records a container event with docker's attributes (image, name, labels).
func (d *Daemon) emit(c *Container, action events.Action, extra map[string]string) {
	attrs := map[string]string{"image": c.Image, "name": trimSlash(c.Name)}
	for k, v := range c.Config.Labels {
		attrs[k] = v
	}
	for k, v := range extra {
		attrs[k] = v
	}
	d.emitRaw(events.ContainerEventType, action, c.ID, attrs)
}

func (d *Daemon) emitRaw(typ events.Type, action events.Action, id string, attrs map[string]string) {
	now := time.Now()
	e := Event{Message: events.Message{
		Type: typ, Action: action, Actor: events.Actor{ID: id, Attributes: attrs},
		Scope: "local", Time: now.Unix(), TimeNano: now.UnixNano(),
	}}
	if typ == events.ContainerEventType || typ == events.ImageEventType {
		e.Status, e.ID, e.From = string(action), id, attrs["image"]
	}
	d.events.publish(e)
}

// Events streams events matching f: those since `since` first, then live ones until
// `until` (zero: until ctx ends). send returning an error ends the stream.
func (d *Daemon) Events(done <-chan struct{}, since, until time.Time, f EventFilter, send func(Event) error) error {
	past, ch, cancel := d.events.subscribe(since)
	defer cancel()
	for i := range past {
		if !until.IsZero() && past[i].TimeNano > until.UnixNano() {
			return nil
		}
		if f.match(&past[i]) {
			if err := send(past[i]); err != nil {
				return err
			}
		}
	}
	var timeout <-chan time.Time
	if !until.IsZero() {
		wait := time.Until(until)
		if wait <= 0 {
			return nil
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	for {
		select {
		case e := <-ch:
			if f.match(&e) {
				if err := send(e); err != nil {
					return err
				}
			}
		case <-timeout:
			return nil
		case <-done:
			return nil
		}
	}
}
