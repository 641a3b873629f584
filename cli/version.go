package cli

import (
	"context"
	"io"
	"runtime"
	"runtime/debug"
	"sort"
	"text/tabwriter"
	"text/template"

	"github.com/berth-dev/berth/internal/version"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

const versionTemplate = `{{with .Client -}}
Client:
 Version:	{{.Version}}
 API version:	{{.APIVersion}}{{if ne .APIVersion .DefaultAPIVersion}} (downgraded from {{.DefaultAPIVersion}}){{end}}
 Go version:	{{.GoVersion}}
 Git commit:	{{.GitCommit}}
 Built:	{{.BuildTime}}
 OS/Arch:	{{.Os}}/{{.Arch}}
 Context:	{{.Context}}
{{- end}}
{{- if .Server}}{{with .Server}}

Server:{{if .Platform.Name}} {{.Platform.Name}}{{end}}
 {{- range $c := .Components}}
 {{$c.Name}}:
  {{- if eq $c.Name "Engine"}}
  Version:	{{$c.Version}}
  API version:	{{index $c.Details "ApiVersion"}} (minimum version {{index $c.Details "MinAPIVersion"}})
  Go version:	{{index $c.Details "GoVersion"}}
  Git commit:	{{index $c.Details "GitCommit"}}
  Built:	{{index $c.Details "BuildTime"}}
  OS/Arch:	{{index $c.Details "Os"}}/{{index $c.Details "Arch"}}
  Experimental:	{{index $c.Details "Experimental"}}
  {{- else}}
  Version:	{{$c.Version}}
  {{- range $k := detailKeys $c}}
  {{$k}}:	{{index $c.Details $k}}
  {{- end}}
  {{- end}}
 {{- end}}
{{- end}}{{end}}`

// VersionInfo is what `berth version` shows; Server is nil when the daemon is unreachable.
type VersionInfo struct {
	Client ClientVersion
	Server *client.ServerVersionResult
}

// ClientVersion describes this berth binary.
type ClientVersion struct {
	Version           string
	APIVersion        string `json:"ApiVersion"`
	DefaultAPIVersion string
	GitCommit         string
	GoVersion         string
	Os                string
	Arch              string
	BuildTime         string
	Context           string
}

func newVersionCommand(c *CLI) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show the Berth version information",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			tmpl, err := versionTmpl(format)
			if err != nil {
				return StatusError{Status: "template parsing error: " + err.Error(), StatusCode: 64}
			}
			vi := VersionInfo{Client: clientVersion(client.MaxAPIVersion)}
			api, err := c.Client(cmd.Context())
			if err == nil {
				var sv client.ServerVersionResult
				if sv, err = ServerVersion(cmd.Context(), api); err == nil {
					vi.Server = &sv
				}
				vi.Client.APIVersion = api.ClientVersion()
			}
			if perr := writeVersion(c.Out, tmpl, vi); perr != nil && err == nil {
				err = perr
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template ('json' or a Go template)")
	return cmd
}

// ServerVersioner is what reading the daemon's version needs.
type ServerVersioner interface {
	ServerVersion(ctx context.Context, options client.ServerVersionOptions) (client.ServerVersionResult, error)
}

// ServerVersion asks the daemon for its version; when it lists no components, the engine's
// own fields are shown as the "Engine" component.
func ServerVersion(ctx context.Context, api ServerVersioner) (client.ServerVersionResult, error) {
	sv, err := api.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return sv, err
	}
	if len(sv.Components) == 0 {
		sv.Components = []system.ComponentVersion{{
			Name:    "Engine",
			Version: sv.Version,
			Details: map[string]string{
				"ApiVersion": sv.APIVersion, "MinAPIVersion": sv.MinAPIVersion,
				"Os": sv.Os, "Arch": sv.Arch, "Experimental": boolString(sv.Experimental),
			},
		}}
	}
	return sv, nil
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func versionTmpl(format string) (*template.Template, error) {
	switch format {
	case "":
		format = versionTemplate
	case jsonFormat:
		format = "{{json .}}"
	}
	return template.New("version").Funcs(templateFuncs).Funcs(template.FuncMap{"detailKeys": detailKeys}).Parse(format)
}

func writeVersion(w io.Writer, tmpl *template.Template, vi VersionInfo) error {
	tw := tabwriter.NewWriter(w, 20, 1, 1, ' ', 0)
	err := tmpl.Execute(tw, vi)
	tw.Write([]byte{'\n'})
	if ferr := tw.Flush(); err == nil {
		err = ferr
	}
	return err
}

func detailKeys(c system.ComponentVersion) []string {
	keys := make([]string, 0, len(c.Details))
	for k := range c.Details {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func clientVersion(apiVersion string) ClientVersion {
	commit, built := version.Commit, ""
	if commit == "unknown" {
		commit = ""
	}
	{
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				switch {
				case s.Key == "vcs.revision" && commit == "":
					commit = s.Value
					if len(commit) > 7 {
						commit = commit[:7]
					}
				case s.Key == "vcs.time" && built == "":
					built = s.Value
				}
			}
		}
	}
	return ClientVersion{
		Version:           version.Version,
		APIVersion:        apiVersion,
		DefaultAPIVersion: client.MaxAPIVersion,
		GitCommit:         orUnknown(commit),
		GoVersion:         runtime.Version(),
		Os:                runtime.GOOS,
		Arch:              runtime.GOARCH,
		BuildTime:         orUnknown(built),
		Context:           "default",
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// buildSuffix is ", build <commit>" for --version when the commit is known.
func buildSuffix() string {
	if version.Commit != "" && version.Commit != "unknown" {
		return ", build " + version.Commit
	}
	return ""
}
