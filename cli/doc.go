// Package cli implements the berth command line: cobra commands whose flags fill an
// options struct that a plain function turns into Docker Engine API calls (through
// github.com/moby/moby/client), followed by Docker-style output formatting.
package cli
