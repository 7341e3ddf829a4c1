package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/policy"
	"github.com/spoofguard/spoofguard/policy/explain"
)

const checkUsage = "usage: spoofguard check [-config FILE] [--client-ip IP --helo NAME --mail-from ADDR --rcpt ADDR...] [--json] message.eml"

// checkTimeout bounds one check, DNS included: a stage of the daemon
// gets 20 seconds, and a check runs every stage.
const checkTimeout = time.Minute

// check explains what the daemon would do with a saved message. Its exit
// status is 0 whatever the verdict; 1 when the configuration or the
// message cannot be used, 2 for a bad command line.
func check(args []string, stdout, stderr io.Writer) int {
	fs, path := newFlags("check", stderr)
	clientIP := fs.String("client-ip", "", "the client that connected to the MTA (default: from the topmost Received header)")
	helo := fs.String("helo", "", "the client's HELO name (default: from that Received header)")
	mailFrom := fs.String("mail-from", "", `the envelope sender; "<>" for the null sender (default: Return-Path)`)
	var rcpts listFlag
	fs.Var(&rcpts, "rcpt", "an envelope recipient; repeatable (default: X-Original-To, Delivered-To, else To and Cc)")
	asJSON := fs.Bool("json", false, "print one JSON object instead of the trace")
	files, ok := parseInterspersed(fs, args)
	if !ok {
		return 2
	}
	if len(files) != 1 {
		fmt.Fprintln(stderr, checkUsage)
		return 2
	}
	opts, err := checkOptions(fs, *clientIP, *helo, *mailFrom, rcpts)
	if err != nil {
		fmt.Fprintln(stderr, "spoofguard check:", err)
		return 2
	}
	cfg, err := policy.LoadConfig(*path)
	if err != nil {
		printConfigError(stderr, err)
		return 1
	}
	f, err := os.Open(files[0])
	if err != nil {
		fmt.Fprintln(stderr, "spoofguard check:", err)
		return 1
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	e, err := offlineEngine(ctx, cfg, policy.Options{Rand: func() int { return 0 }})
	if err != nil {
		fmt.Fprintln(stderr, "spoofguard check:", err)
		return 1
	}
	defer e.Close()
	rep, err := explain.Check(ctx, e, f, opts)
	if err != nil {
		fmt.Fprintf(stderr, "spoofguard check: %s: %v\n", files[0], err)
		return 1
	}
	if *asJSON {
		err = writeJSON(stdout, rep)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "spoofguard check:", err)
		return 1
	}
	return 0
}

// checkOptions turns the flags into explain options; a flag that was not
// given leaves its fact to be read from the message.
func checkOptions(fs *flag.FlagSet, clientIP, helo, mailFrom string, rcpts listFlag) (explain.Options, error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	opts := explain.Options{Rcpts: rcpts}
	if set["client-ip"] {
		ip, err := netip.ParseAddr(strings.Trim(clientIP, "[]"))
		if err != nil {
			return opts, fmt.Errorf("--client-ip %q is not an IP address", clientIP)
		}
		opts.ClientIP = ip
	}
	if set["helo"] {
		opts.Helo = &helo
	}
	if set["mail-from"] {
		opts.MailFrom = &mailFrom
	}
	return opts, nil
}

// offlineEngine builds the engine the way the daemon does, from the
// configured DNS settings, but loads relay networks published in SPF once
// instead of keeping them fresh.
func offlineEngine(ctx context.Context, cfg *policy.Config, opts policy.Options) (*policy.Engine, error) {
	res, err := dnsauth.NewResolver(cfg.DNS.ResolverConfig())
	if err != nil {
		return nil, fmt.Errorf("DNS resolver: %w", err)
	}
	opts.NoRefresh = true
	return policy.NewEngine(ctx, cfg, res, opts), nil
}

// parseInterspersed parses flags that may come before or after the
// positional arguments ("check msg.eml --json" as well as "check --json
// msg.eml"); "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, bool) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, false
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), true
		}
		if len(rest) == 0 {
			return pos, true
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// listFlag is a flag that may be given several times.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// writeJSON prints one indented JSON object.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
