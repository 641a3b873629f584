// Command berth is the Berth command line client.
package main

import (
	"context"
	"os"

	"github.com/berth-dev/berth/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}))
}
