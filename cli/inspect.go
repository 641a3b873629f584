package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/template"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// Object types of inspect --type.
const (
	TypeContainer = "container"
	TypeImage     = "image"
)

// InspectOptions are the inputs of Inspect.
type InspectOptions struct {
	Refs   []string
	Type   string // TypeContainer, TypeImage, or empty to try both in that order
	Format string // Go template, "json", or empty for indented JSON
	Size   bool   // container sizes
}

// InspectAPI is what inspecting containers and images needs from the daemon.
type InspectAPI interface {
	ContainerInspect(ctx context.Context, container string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
	ImageInspect(ctx context.Context, image string, options ...client.ImageInspectOption) (client.ImageInspectResult, error)
}

func newInspectCommand(c *CLI) *cobra.Command {
	return inspectCommand(c, "inspect [OPTIONS] NAME|ID [NAME|ID...]", "Return low-level information on Berth objects", "")
}

func newContainerInspectCommand(c *CLI) *cobra.Command {
	return inspectCommand(c, "inspect [OPTIONS] CONTAINER [CONTAINER...]", "Display detailed information on one or more containers", TypeContainer)
}

func newImageInspectCommand(c *CLI) *cobra.Command {
	return inspectCommand(c, "inspect [OPTIONS] IMAGE [IMAGE...]", "Display detailed information on one or more images", TypeImage)
}

func inspectCommand(c *CLI, use, short, typ string) *cobra.Command {
	opts := InspectOptions{Type: typ}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Refs = args
			switch opts.Type {
			case "", TypeContainer, TypeImage:
			default:
				return fmt.Errorf(`unknown type: %q: must be one of "container", "image"`, opts.Type)
			}
			api, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			return Inspect(cmd.Context(), api, c.Out, opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&opts.Format, "format", "f", "", "Format output using a custom template ('json' or a Go template)")
	if typ != TypeImage {
		fs.BoolVarP(&opts.Size, "size", "s", false, "Display total file sizes")
	}
	if typ == "" {
		fs.StringVar(&opts.Type, "type", "", "Only inspect objects of the given type")
	}
	return cmd
}

// Inspect prints the daemon's JSON for each reference (an indented array, like docker) or
// renders it through a Go template. Failed references are reported together at the end.
func Inspect(ctx context.Context, api InspectAPI, out io.Writer, opts InspectOptions) error {
	return inspectRefs(out, opts.Refs, opts.Format, func(ref string) (any, []byte, error) {
		return inspectOne(ctx, api, ref, opts)
	})
}

// inspectRefs prints the objects get returns for refs (typed and raw JSON) as an indented
// JSON array, compact JSON ("json") or through a Go template, then reports the failures.
// A nil raw means the typed object is all there is: it is marshalled for the array, and a
// template it cannot satisfy fails without a fallback, as docker does.
func inspectRefs(out io.Writer, refs []string, format string, get func(ref string) (any, []byte, error)) error {
	var tmpl *template.Template
	if format != "" && format != jsonFormat {
		var err error
		if tmpl, err = parseTemplate(format); err != nil {
			return StatusError{Status: "template parsing error: " + err.Error(), StatusCode: 64}
		}
	}
	var (
		raws [][]byte
		buf  bytes.Buffer
		errs []error
	)
	for _, ref := range refs {
		typed, raw, err := get(ref)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if tmpl == nil {
			if raw == nil {
				if raw, err = json.Marshal(typed); err != nil {
					errs = append(errs, err)
					continue
				}
			}
			raws = append(raws, bytes.TrimSpace(raw))
			continue
		}
		if err := execInspectTemplate(&buf, tmpl, typed, raw); err != nil {
			errs = append(errs, err)
		}
	}
	if tmpl != nil {
		if buf.Len() == 0 {
			buf.WriteByte('\n')
		}
		buf.WriteTo(out)
	} else {
		if err := writeJSONArray(out, raws, format == jsonFormat); err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}

func inspectOne(ctx context.Context, api InspectAPI, ref string, opts InspectOptions) (any, []byte, error) {
	if opts.Type == "" || opts.Type == TypeContainer {
		res, err := api.ContainerInspect(ctx, ref, client.ContainerInspectOptions{Size: opts.Size})
		if err == nil {
			return &res.Container, res.Raw, nil
		}
		if opts.Type != "" || !skippable(err) {
			return nil, nil, err
		}
	}
	var raw bytes.Buffer
	res, err := api.ImageInspect(ctx, ref, client.ImageInspectWithRawResponse(&raw))
	if err == nil {
		return &res.InspectResponse, raw.Bytes(), nil
	}
	if opts.Type != "" || !skippable(err) {
		return nil, nil, err
	}
	return nil, nil, fmt.Errorf("Error: No such object: %s", ref)
}

func skippable(err error) bool {
	return cerrdefs.IsNotFound(err) || strings.Contains(err.Error(), "invalid reference format")
}

// execInspectTemplate renders the typed object; templates naming fields the Go type lacks
// fall back to the raw JSON, like docker.
func execInspectTemplate(out *bytes.Buffer, tmpl *template.Template, typed any, raw []byte) error {
	var b bytes.Buffer
	if err := tmpl.Execute(&b, typed); err != nil {
		if raw == nil {
			return fmt.Errorf("template parsing error: %w", err)
		}
		var generic any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if derr := dec.Decode(&generic); derr != nil {
			return fmt.Errorf("unable to read inspect data: %w", derr)
		}
		b.Reset()
		if err := tmpl.Option("missingkey=error").Execute(&b, generic); err != nil {
			return fmt.Errorf("template parsing error: %w", err)
		}
	}
	out.Write(b.Bytes())
	out.WriteByte('\n')
	return nil
}

// writeJSONArray writes the raw objects as a JSON array, indented by four spaces unless compact.
func writeJSONArray(out io.Writer, raws [][]byte, compact bool) error {
	if len(raws) == 0 {
		_, err := io.WriteString(out, "[]\n")
		return err
	}
	arr := append([]byte{'['}, bytes.Join(raws, []byte{','})...)
	arr = append(arr, ']')
	var b bytes.Buffer
	var err error
	if compact {
		err = json.Compact(&b, arr)
	} else {
		err = json.Indent(&b, arr, "", "    ")
	}
	if err != nil {
		return err
	}
	b.WriteByte('\n')
	_, err = b.WriteTo(out)
	return err
}
