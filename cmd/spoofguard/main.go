// Command spoofguard is a milter that stops mail forged as the receiving
// organisation's own domain and mail that bypassed its inbound filter.
//
//	spoofguard serve [-config FILE]          run the milter daemon
//	spoofguard config check [-config FILE]   validate the configuration
//	spoofguard check [flags] message.eml|-   explain the verdict for a saved message
//	spoofguard audit [-config FILE] [domain...]
//	                                         check the DNS posture of the protected domains
//	spoofguard report [-config FILE] [--since 7d] [--domain D] [--json]
//	                                         who sends as the protected domains, and what to fix before enforcing
//	spoofguard batv-key FILE                 make a new BATV key file (mode 0600)
//	spoofguard version                       print the version
//
// See spoofguard(8) and spoofguard.toml(5).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/milter"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

const defaultConfig = "/etc/spoofguard/spoofguard.toml"

func main() {
	os.Exit(runWith(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// runWith is run with the standard input given: `check -` reads the
// message from it.
func runWith(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "config":
		if len(args) < 2 || args[1] != "check" {
			fmt.Fprintln(stderr, "usage: spoofguard config check [-config FILE]")
			return 2
		}
		return configCheck(args[2:], stdout, stderr)
	case "check":
		return check(args[1:], stdin, stdout, stderr)
	case "audit":
		return auditCmd(args[1:], stdout, stderr)
	case "report":
		return reportCmd(args[1:], stdout, stderr)
	case "batv-key":
		return batvKey(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "spoofguard", version)
		return 0
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "spoofguard: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  spoofguard serve [-config FILE]          run the milter daemon
  spoofguard config check [-config FILE]   validate the configuration
  spoofguard check [-config FILE] [--client-ip IP --helo NAME --mail-from ADDR --rcpt ADDR... --auth-user NAME] [--json] message.eml|-
                                           explain the verdict for a saved message
  spoofguard audit [-config FILE] [--json] [domain...]
                                           check the DNS posture of the protected domains
  spoofguard report [-config FILE] [--since 7d] [--domain D] [--json]
                                           who sends as the protected domains, and what to fix before enforcing
  spoofguard batv-key FILE                 make a new BATV key file (mode 0600)
  spoofguard version                       print the version
`)
}

// newFlags makes a flag set with the -config flag every command takes.
func newFlags(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("spoofguard "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfig, "configuration file")
	return fs, path
}

func serve(args []string, stderr io.Writer) int {
	fs, path := newFlags("serve", stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	d, err := milter.New(milter.Options{ConfigPath: *path, Version: version, LogOutput: stderr})
	if err != nil {
		printConfigError(stderr, err)
		return 1
	}
	if err := d.Run(); err != nil {
		fmt.Fprintln(stderr, "spoofguard:", err)
		return 1
	}
	return 0
}

func configCheck(args []string, stdout, stderr io.Writer) int {
	fs, path := newFlags("config check", stderr)
	as := fs.String("user", "", "the account serve runs as (default: "+serviceUser+" if it exists, else the current user)")
	onHost := fs.Bool("host", true, "also check this host for what serve needs at start (false: the file alone)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.LoadConfig(*path)
	if err != nil {
		printConfigError(stderr, err)
		return 1
	}
	r := &hostReport{}
	if *onHost {
		u, err := checkUser(*as)
		if err != nil {
			fmt.Fprintln(stderr, "spoofguard config check:", err)
			return 2
		}
		r = checkHost(cfg, u)
	}
	for _, e := range r.errors {
		fmt.Fprintf(stderr, "%s: %s\n", *path, e)
	}
	if len(r.errors) > 0 {
		return 1
	}
	fmt.Fprintf(stdout, "%s: OK (%d protected domains, %d relays, mode %s)\n", *path, len(cfg.Domains), len(cfg.Relays), cfg.Milter.Mode)
	fmt.Fprintf(stdout, "  milter.listen %s\n", cfg.Milter.Listen)
	for _, w := range r.warnings {
		fmt.Fprintln(stdout, "warning:", w)
	}
	for _, n := range r.notes {
		fmt.Fprintln(stdout, "note:", n)
	}
	return 0
}

// printConfigError prints every problem of a configuration, one per line.
func printConfigError(w io.Writer, err error) {
	var ce *config.ConfigError
	if errors.As(err, &ce) {
		for _, p := range ce.Problems {
			fmt.Fprintln(w, p.Error())
		}
		return
	}
	fmt.Fprintln(w, "spoofguard:", err)
}
