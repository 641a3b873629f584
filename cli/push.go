package cli

import "github.com/spf13/cobra"

// pushCommands are the top-level registry commands: push, login, logout (issue 4).
func pushCommands(c *CLI) []*cobra.Command { return nil }

// imagePushSubcommands are their `image …` forms.
func imagePushSubcommands(c *CLI) []*cobra.Command { return nil }
