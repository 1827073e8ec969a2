package main

import "github.com/spf13/cobra"

// addContentCommands registers the commands that work on content: add, cat,
// get, ls, block, dag, pin, gc, repo, id, swarm.
func addContentCommands(root *cobra.Command, g *globals) {
	// TODO(helper)
}
