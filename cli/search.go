package cli

import "github.com/spf13/cobra"

// searchCommands is `search` (issue 4).
func searchCommands(c *CLI) []*cobra.Command { return nil }
