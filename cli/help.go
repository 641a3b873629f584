package cli

import (
	"slices"
	"strings"

	"github.com/moby/term"
	"github.com/spf13/cobra"
)

// helpTemplate lays out --help as docker 28 does: the usage line first, the description,
// aliases, subcommands, then the command's own options (not the global ones, not --help),
// wrapped to the terminal.
const helpTemplate = `Usage:  {{.UseLine}}

{{with .Long}}{{.}}{{else}}{{.Short}}{{end}}
{{- if not .HasParent}}
{{- range commandGroups .}}

{{.Title}}:
{{- range .Commands}}
  {{rpad .Name .NamePadding}} {{.Short}}{{end}}
{{- end}}

Global Options:
{{wrappedFlags . | trimRightSpace}}

Run '{{.CommandPath}} COMMAND --help' for more information on a command.
{{- else}}
{{- with aliasLine .}}

Aliases:
  {{.}}
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
{{- end}}
`

// commonCommands are the commands docker's help lists first, in its order.
var commonCommands = []string{"run", "exec", "ps", "build", "pull", "push", "images", "login", "logout", "search", "version", "info"}

// commandGroup is a titled list of commands in the top-level help.
type commandGroup struct {
	Title    string
	Commands []*cobra.Command
}

// commandGroups sorts the top-level commands as docker's help does: the common ones,
// the management commands (those with subcommands), then the rest.
func commandGroups(root *cobra.Command) []commandGroup {
	byName := map[string]*cobra.Command{}
	common := commandGroup{Title: "Common Commands"}
	manage := commandGroup{Title: "Management Commands"}
	rest := commandGroup{Title: "Commands"}
	for _, c := range root.Commands() {
		if c.IsAvailableCommand() {
			byName[c.Name()] = c
		}
	}
	isCommon := map[string]bool{}
	for _, n := range commonCommands {
		if c := byName[n]; c != nil {
			common.Commands = append(common.Commands, c)
			isCommon[n] = true
		}
	}
	for _, c := range root.Commands() {
		switch {
		case !c.IsAvailableCommand() || isCommon[c.Name()]:
		case c.HasAvailableSubCommands():
			manage.Commands = append(manage.Commands, c)
		default:
			rest.Commands = append(rest.Commands, c)
		}
	}
	return []commandGroup{common, manage, rest}
}

func init() {
	cobra.AddTemplateFunc("aliasLine", aliasLine)
	cobra.AddTemplateFunc("wrappedFlags", wrappedFlags)
	cobra.AddTemplateFunc("commandGroups", commandGroups)
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

// aliasLine lists every name of a command as docker's help does: its form under a
// management command with that form's aliases, then the top-level shortcut ("berth
// container ls, berth container list, berth container ps, berth ps"); "" for one name.
func aliasLine(cmd *cobra.Command) string {
	root := cmd.Root()
	form := cmd
	if cmd.Parent() == root {
		form = groupForm(root, cmd)
	} else {
		for primary, others := range otherForms {
			if slices.Contains(others, cmd.Parent().Name()+" "+cmd.Name()) {
				if c, _, err := root.Find(strings.Fields(primary)); err == nil {
					form = c
				}
			}
		}
	}
	if form == nil {
		return ""
	}
	names := []string{form.CommandPath()}
	for _, a := range form.Aliases {
		if full := form.Parent().Name() + " " + a; !hiddenAliases[full] {
			names = append(names, form.Parent().CommandPath()+" "+a)
		}
	}
	for _, top := range root.Commands() {
		if top.IsAvailableCommand() && groupForm(root, top) == form {
			names = append(names, top.CommandPath())
		}
	}
	for _, other := range otherForms[form.Parent().Name()+" "+form.Name()] {
		names = append(names, root.Name()+" "+other)
	}
	if len(names) == 1 {
		return ""
	}
	return strings.Join(names, ", ")
}

// hiddenAliases work but are not listed (docker's `image rmi`).
var hiddenAliases = map[string]bool{"image rmi": true}

// shortcutForms are the top-level commands whose form under a management command is not
// the first one found by name.
var shortcutForms = map[string][2]string{"images": {"image", "ls"}, "rmi": {"image", "rm"}, "build": {"image", "build"}}

// otherForms are further management-command forms docker lists after the shortcut.
var otherForms = map[string][]string{"image build": {"builder build"}}

// groupForm is the management command's form of a top-level command (container run for
// run), or nil; inspect differs from container inspect and image inspect.
func groupForm(root, top *cobra.Command) *cobra.Command {
	if top.Parent() != root || top.HasSubCommands() || top.Name() == "inspect" {
		return nil
	}
	for _, g := range root.Commands() {
		if !g.HasSubCommands() {
			continue
		}
		for _, sub := range g.Commands() {
			if f, ok := shortcutForms[top.Name()]; ok {
				if g.Name() == f[0] && sub.Name() == f[1] {
					return sub
				}
				continue
			}
			if sub.Name() == top.Name() || slices.Contains(sub.Aliases, top.Name()) {
				return sub
			}
		}
	}
	return nil
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
