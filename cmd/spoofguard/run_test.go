package main

import (
	"io"
	"os"
)

// run executes one command line and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	return runWith(args, os.Stdin, stdout, stderr)
}
