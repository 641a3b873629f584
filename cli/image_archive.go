package cli

import "github.com/spf13/cobra"

// imageArchiveCommands are save, load and import (issue 4).
func imageArchiveCommands(c *CLI) []*cobra.Command { return nil }

// imageArchiveSubcommands are `image save|load|import`.
func imageArchiveSubcommands(c *CLI) []*cobra.Command { return nil }
