package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/berth-dev/berth/internal/version"
	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newInfoCommand(c *CLI) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "info [OPTIONS]",
		Short: "Display system-wide information",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var tmpl = format
			if format == jsonFormat {
				tmpl = "{{json .}}"
			}
			if tmpl == "" {
				fmt.Fprintf(c.Out, "Client:\n Version:    %s\n Context:    default\n Debug Mode: %v\n\nServer:\n", version.Version, c.debug)
			}
			api, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			info, err := SystemInfo(cmd.Context(), api)
			if err != nil {
				return err
			}
			if tmpl != "" {
				t, err := parseTemplate(tmpl)
				if err != nil {
					return StatusError{Status: "template parsing error: " + err.Error(), StatusCode: 64}
				}
				if err := t.Execute(c.Out, info); err != nil {
					return err
				}
				_, err = fmt.Fprintln(c.Out)
				return err
			}
			writeInfo(c.Out, info)
			for _, w := range info.Warnings {
				fmt.Fprintln(c.Err, w)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template ('json' or a Go template)")
	return cmd
}

// SystemInfo returns the daemon's /info.
func SystemInfo(ctx context.Context, api client.SystemAPIClient) (system.Info, error) {
	res, err := api.Info(ctx, client.InfoOptions{})
	return res.Info, err
}

// writeInfo prints the server part of `docker info`.
func writeInfo(w io.Writer, info system.Info) {
	p := func(a ...any) { fmt.Fprintln(w, a...) }
	nonEmpty := func(label, v string) {
		if v != "" {
			fmt.Fprintln(w, label, v)
		}
	}
	p(" Containers:", info.Containers)
	p("  Running:", info.ContainersRunning)
	p("  Paused:", info.ContainersPaused)
	p("  Stopped:", info.ContainersStopped)
	p(" Images:", info.Images)
	nonEmpty(" Server Version:", info.ServerVersion)
	nonEmpty(" Storage Driver:", info.Driver)
	for _, kv := range info.DriverStatus {
		fmt.Fprintf(w, "  %s: %s\n", kv[0], kv[1])
	}
	nonEmpty(" Logging Driver:", info.LoggingDriver)
	nonEmpty(" Cgroup Driver:", info.CgroupDriver)
	nonEmpty(" Cgroup Version:", info.CgroupVersion)
	p(" Plugins:")
	p("  Volume:", strings.Join(info.Plugins.Volume, " "))
	p("  Network:", strings.Join(info.Plugins.Network, " "))
	p("  Log:", strings.Join(info.Plugins.Log, " "))
	p(" Swarm:", info.Swarm.LocalNodeState)
	if len(info.Runtimes) > 0 {
		names := make([]string, 0, len(info.Runtimes))
		for n := range info.Runtimes {
			names = append(names, n)
		}
		sort.Strings(names)
		p(" Runtimes:", strings.Join(names, " "))
		p(" Default Runtime:", info.DefaultRuntime)
	}
	if info.OSType == "linux" {
		nonEmpty(" Init Binary:", info.InitBinary)
		p(" runc version:", info.RuncCommit.ID)
		if len(info.SecurityOptions) > 0 {
			p(" Security Options:")
			for _, so := range info.SecurityOptions {
				for _, kv := range strings.Split(so, ",") {
					k, v, _ := strings.Cut(kv, "=")
					switch k {
					case "name":
						fmt.Fprintln(w, "  "+v)
					case "profile":
						fmt.Fprintln(w, "   Profile:", v)
					}
				}
			}
		}
	}
	nonEmpty(" Kernel Version:", info.KernelVersion)
	nonEmpty(" Operating System:", info.OperatingSystem)
	nonEmpty(" OSType:", info.OSType)
	nonEmpty(" Architecture:", info.Architecture)
	p(" CPUs:", info.NCPU)
	p(" Total Memory:", units.BytesSize(float64(info.MemTotal)))
	nonEmpty(" Name:", info.Name)
	nonEmpty(" ID:", info.ID)
	p(" Berth Root Dir:", info.DockerRootDir)
	p(" Debug Mode:", info.Debug)
	nonEmpty(" HTTP Proxy:", info.HTTPProxy)
	nonEmpty(" HTTPS Proxy:", info.HTTPSProxy)
	nonEmpty(" No Proxy:", info.NoProxy)
	if len(info.Labels) > 0 {
		p(" Labels:")
		for _, l := range info.Labels {
			fmt.Fprintln(w, "  "+l)
		}
	}
	p(" Experimental:", info.ExperimentalBuild)
	if rc := info.RegistryConfig; rc != nil {
		var insecure []string
		for _, ic := range rc.IndexConfigs {
			if ic != nil && !ic.Secure {
				insecure = append(insecure, ic.Name)
			}
		}
		sort.Strings(insecure)
		for _, cidr := range rc.InsecureRegistryCIDRs {
			insecure = append(insecure, cidr.String())
		}
		if len(insecure) > 0 {
			p(" Insecure Registries:")
			for _, s := range insecure {
				fmt.Fprintln(w, "  "+s)
			}
		}
		if len(rc.Mirrors) > 0 {
			p(" Registry Mirrors:")
			for _, m := range rc.Mirrors {
				fmt.Fprintln(w, "  "+m)
			}
		}
	}
	p(" Live Restore Enabled:", info.LiveRestoreEnabled)
}
