package cli

import "github.com/spf13/cobra"

// imageManageCommands are the top-level image management commands: tag, rmi, history (issue 4).
func imageManageCommands(c *CLI) []*cobra.Command { return nil }

// imageManageSubcommands are `image tag|rm|history|prune`.
func imageManageSubcommands(c *CLI) []*cobra.Command { return nil }

// systemImageSubcommands are `system df` and friends.
func systemImageSubcommands(c *CLI) []*cobra.Command { return nil }
