package main

import (
	"fmt"
	"io"

	"github.com/spoofguard/spoofguard/batv"
)

// batvKey makes a new BATV key file with mode 0600. It refuses to
// overwrite: a key in use that changes turns every bounce in flight into
// one that fails its tag check. To rotate, make a new file and list it
// first in [backscatter] keys, keeping the old one after it.
func batvKey(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || args[0] == "" || args[0][0] == '-' {
		fmt.Fprintln(stderr, "usage: spoofguard batv-key FILE")
		return 2
	}
	if err := batv.WriteNewKey(args[0]); err != nil {
		fmt.Fprintln(stderr, "spoofguard batv-key:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: new BATV key (mode 0600); make it readable by the daemon's user only (chown spoofguard %s)\n", args[0], args[0])
	return 0
}
