package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// EventsOptions are the inputs of StreamEvents.
type EventsOptions struct {
	Since   string   // RFC 3339, Unix time or a duration before now
	Until   string   // same forms; empty to stream until interrupted
	Filters []string // key=value
	Format  string   // Go template, "json", or empty for docker's text lines
}

// EventsAPI is what listening to events needs from the daemon.
type EventsAPI interface {
	Events(ctx context.Context, options client.EventsListOptions) client.EventsResult
}

func newEventsCommand(c *CLI) *cobra.Command {
	var opts EventsOptions
	cmd := apiCommand(c, "events [OPTIONS]", "Get real time events from the server", noArgs,
		func(ctx context.Context, api *client.Client, args []string) error {
			return StreamEvents(ctx, api, c.Out, opts)
		})
	fs := cmd.Flags()
	addFilterFlag(fs, &opts.Filters, "f", "Filter output based on conditions provided")
	fs.StringVar(&opts.Format, "format", "", "Format output using a custom template ('json' or a Go template)")
	fs.StringVar(&opts.Since, "since", "", "Show all events created since timestamp")
	fs.StringVar(&opts.Until, "until", "", "Stream events until this timestamp")
	return cmd
}

// StreamEvents prints the daemon's events until the stream ends (with Until) or ctx is done.
func StreamEvents(ctx context.Context, api EventsAPI, out io.Writer, opts EventsOptions) error {
	tmpl, err := eventsTemplate(opts.Format)
	if err != nil {
		return StatusError{Status: "Error parsing format: " + err.Error(), StatusCode: 64}
	}
	filters, err := parseFilters(opts.Filters)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := api.Events(ctx, client.EventsListOptions{Since: opts.Since, Until: opts.Until, Filters: filters})
	for {
		select {
		case m := <-res.Messages:
			if err := writeEvent(out, m, tmpl); err != nil {
				return err
			}
		case err := <-res.Err:
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// eventsTemplate parses --format, checking it against an empty event so that a bad field
// is reported before anything streams.
func eventsTemplate(format string) (*template.Template, error) {
	switch format {
	case "":
		return nil, nil
	case jsonFormat:
		format = "{{json .}}"
	}
	tmpl, err := parseTemplate(format)
	if err != nil {
		return nil, err
	}
	return tmpl, tmpl.Execute(io.Discard, &events.Message{})
}

// rfc3339NanoFixed is RFC 3339 with nanoseconds padded to nine digits.
const rfc3339NanoFixed = "2006-01-02T15:04:05.000000000Z07:00"

// writeEvent prints one event through tmpl, or as docker's text line:
// TIME TYPE ACTION ID (key=value, ...).
func writeEvent(out io.Writer, m events.Message, tmpl *template.Template) error {
	if tmpl != nil {
		var b strings.Builder
		if err := tmpl.Execute(&b, m); err != nil {
			return err
		}
		b.WriteByte('\n')
		_, err := io.WriteString(out, b.String())
		return err
	}
	var b strings.Builder
	switch {
	case m.TimeNano != 0:
		b.WriteString(time.Unix(0, m.TimeNano).Format(rfc3339NanoFixed) + " ")
	case m.Time != 0:
		b.WriteString(time.Unix(m.Time, 0).Format(rfc3339NanoFixed) + " ")
	}
	fmt.Fprintf(&b, "%s %s %s", m.Type, m.Action, m.Actor.ID)
	if len(m.Actor.Attributes) > 0 {
		keys := make([]string, 0, len(m.Actor.Attributes))
		for k := range m.Actor.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			keys[i] = k + "=" + m.Actor.Attributes[k]
		}
		b.WriteString(" (" + strings.Join(keys, ", ") + ")")
	}
	b.WriteByte('\n')
	_, err := io.WriteString(out, b.String())
	return err
}
