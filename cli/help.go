package cli

import (
	"strings"

	"github.com/moby/term"
	"github.com/spf13/cobra"
)

// helpTemplate lays out --help as docker 28 does: the usage line first, the description,
// aliases, subcommands, then the command's own options (not the global ones, not --help),
// wrapped to the terminal.
const helpTemplate = `Usage:  {{.UseLine}}

{{with .Long}}{{.}}{{else}}{{.Short}}{{end}}
{{- if gt (len .Aliases) 0}}

Aliases:
  {{aliasLine .}}
{{- end}}
{{- if .HasAvailableSubCommands}}

Commands:
{{- range .Commands}}{{if .IsAvailableCommand}}
  {{rpad .Name .NamePadding}} {{.Short}}{{end}}{{end}}
{{- end}}
{{- if .HasAvailableLocalFlags}}

Options:
{{wrappedFlags . | trimRightSpace}}
{{- end}}
{{- if .HasAvailableSubCommands}}

Run '{{.CommandPath}} COMMAND --help' for more information on a command.
{{- end}}
`

func init() {
	cobra.AddTemplateFunc("aliasLine", aliasLine)
	cobra.AddTemplateFunc("wrappedFlags", wrappedFlags)
	cobra.AddTemplateFunc("trimRightSpace", func(s string) string { return strings.TrimRight(s, " \t\n") })
}

// setHelp gives cmd and every command below it docker's help layout and hides --help from
// the options, as docker does; management commands show COMMAND in their usage line.
func setHelp(root *cobra.Command) {
	root.SetHelpTemplate(helpTemplate)
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		cmd.InitDefaultHelpFlag()
		cmd.Flags().MarkHidden("help")
		if cmd.HasSubCommands() && cmd.HasParent() && !strings.Contains(cmd.Use, " ") {
			cmd.Use += " COMMAND"
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// aliasLine lists a command's names as docker does: "berth container ls, berth container ps".
func aliasLine(cmd *cobra.Command) string {
	parent := ""
	if cmd.HasParent() {
		parent = cmd.Parent().CommandPath() + " "
	}
	names := []string{cmd.CommandPath()}
	for _, a := range cmd.Aliases {
		names = append(names, parent+a)
	}
	return strings.Join(names, ", ")
}

// wrappedFlags is the command's own options, wrapped to the terminal (80 columns when
// the output is not one).
func wrappedFlags(cmd *cobra.Command) string {
	width := 80
	if ws, err := term.GetWinsize(0); err == nil && ws.Width > 0 {
		width = int(ws.Width)
	}
	return cmd.LocalFlags().FlagUsagesWrapped(width - 1)
}
