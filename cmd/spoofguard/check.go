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

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/policy"
	"github.com/spoofguard/spoofguard/policy/explain"
)

const checkUsage = "usage: spoofguard check [-config FILE] [--client-ip IP --helo NAME --mail-from ADDR --rcpt ADDR... --auth-user NAME] [--json] message.eml|-"

// checkTimeout bounds one check, DNS included: a stage of the daemon
// gets 20 seconds, and a check runs every stage.
const checkTimeout = time.Minute

// checkFlags are the envelope facts given on the command line.
type checkFlags struct {
	clientIP, helo, mailFrom, authUser string
	rcpts                              listFlag
}

// check explains what the daemon would do with a saved message ("-":
// the standard input, e.g. from postcat). Its exit status is 0 whatever
// the verdict; 1 when the configuration or the message cannot be used,
// 2 for a bad command line.
func check(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs, path := newFlags("check", stderr)
	var cf checkFlags
	fs.StringVar(&cf.clientIP, "client-ip", "", "the client that connected to the MTA (default: from the topmost Received header)")
	fs.StringVar(&cf.helo, "helo", "", "the client's HELO name (default: from that Received header)")
	fs.StringVar(&cf.mailFrom, "mail-from", "", `the envelope sender; "<>" for the null sender (default: Return-Path)`)
	fs.Var(&cf.rcpts, "rcpt", "an envelope recipient; repeatable (default: X-Original-To, Delivered-To, else To and Cc)")
	fs.StringVar(&cf.authUser, "auth-user", "", `the SMTP AUTH user, as if the client had authenticated; "" for none (default: as the topmost Received header says)`)
	asJSON := fs.Bool("json", false, "print one JSON object instead of the trace")
	files, ok := parseInterspersed(fs, args)
	if !ok {
		return 2
	}
	if len(files) != 1 {
		fmt.Fprintln(stderr, checkUsage)
		return 2
	}
	opts, err := checkOptions(fs, cf)
	if err != nil {
		fmt.Fprintln(stderr, "spoofguard check:", err)
		return 2
	}
	cfg, err := config.LoadConfig(*path)
	if err != nil {
		printConfigError(stderr, err)
		return 1
	}
	msg, name, err := openMessage(files[0], stdin)
	if err != nil {
		fmt.Fprintln(stderr, "spoofguard check:", err)
		return 1
	}
	defer msg.Close()
	rep, err := checkInput(cfg, msg, opts)
	if err != nil {
		fmt.Fprintf(stderr, "spoofguard check: %s: %v\n", name, err)
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

// openMessage opens the message file, or takes the standard input for
// "-" (postcat -q QUEUEID | spoofguard check -).
func openMessage(file string, stdin io.Reader) (io.ReadCloser, string, error) {
	if file == "-" {
		return io.NopCloser(stdin), "standard input", nil
	}
	f, err := os.Open(file)
	return f, file, err
}

// checkInput checks a message, or the queue file postcat printed with
// the envelope it recorded.
func checkInput(cfg *config.Config, msg io.Reader, opts explain.Options) (*explain.Report, error) {
	body, env, err := sniffPostcat(msg)
	if err != nil {
		return nil, err
	}
	if env != nil {
		env.fill(&opts)
	}
	return checkMessage(cfg, body, opts)
}

// checkMessage runs the message through an engine built the way the
// daemon builds it.
func checkMessage(cfg *config.Config, msg io.Reader, opts explain.Options) (*explain.Report, error) {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	e, err := offlineEngine(ctx, cfg, policy.Options{Rand: func() int { return 0 }})
	if err != nil {
		return nil, err
	}
	defer e.Close()
	return explain.Check(ctx, e, msg, opts)
}

// checkOptions turns the flags into explain options; a flag that was not
// given leaves its fact to be read from the message.
func checkOptions(fs *flag.FlagSet, cf checkFlags) (explain.Options, error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	opts := explain.Options{Rcpts: cf.rcpts}
	if set["client-ip"] {
		ip, err := netip.ParseAddr(strings.Trim(cf.clientIP, "[]"))
		if err != nil {
			return opts, fmt.Errorf("--client-ip %q is not an IP address", cf.clientIP)
		}
		opts.ClientIP = ip
	}
	if set["helo"] {
		opts.Helo = &cf.helo
	}
	if set["mail-from"] {
		opts.MailFrom = &cf.mailFrom
	}
	if set["auth-user"] {
		opts.AuthUser = &cf.authUser
	}
	return opts, nil
}

// offlineEngine builds the engine the way the daemon does, from the
// configured DNS settings, but loads relay networks published in SPF once
// instead of keeping them fresh.
func offlineEngine(ctx context.Context, cfg *config.Config, opts policy.Options) (*policy.Engine, error) {
	res, err := newResolver(cfg)
	if err != nil {
		return nil, err
	}
	return engineOn(ctx, cfg, res, opts), nil
}

// newResolver is the resolver of the configured DNS settings.
func newResolver(cfg *config.Config) (*dnsauth.Resolver, error) {
	res, err := dnsauth.NewResolver(cfg.DNS.ResolverConfig())
	if err != nil {
		return nil, fmt.Errorf("DNS resolver: %w", err)
	}
	return res, nil
}

// engineOn is offlineEngine with the resolver given.
func engineOn(ctx context.Context, cfg *config.Config, res *dnsauth.Resolver, opts policy.Options) *policy.Engine {
	opts.NoRefresh = true
	return policy.NewEngine(ctx, cfg, res, opts)
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
