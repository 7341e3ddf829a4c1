package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/store"
	"github.com/spoofguard/spoofguard/store/report"
)

// reportCmd reads the decision store named by the configuration's
// [store] table and prints, per protected domain, who sends as it, what
// to change before enforcing, and the forgeries refused. Exit status: 0
// when it printed a report, 2 when it cannot (command line,
// configuration, store).
func reportCmd(args []string, stdout, stderr io.Writer) int {
	fs, path := newFlags("report", stderr)
	since := fs.String("since", "7d", "the period to cover, back from now: days (7d), weeks (2w) or a duration (36h)")
	domain := fs.String("domain", "", "only this protected domain")
	asJSON := fs.Bool("json", false, "print one JSON object instead of the text")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "spoofguard report: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	period, err := config.ParsePeriod(*since)
	if err != nil {
		fmt.Fprintln(stderr, "spoofguard report: --since:", err)
		return 2
	}
	cfg, err := config.LoadConfig(*path)
	if err != nil {
		printConfigError(stderr, err)
		return 2
	}
	now := time.Now()
	rep, err := buildReport(cfg.Store, report.Options{Since: now.Add(-period), Domain: *domain, Now: now, Progress: stderr})
	if err != nil {
		fmt.Fprintln(stderr, "spoofguard report:", err)
		return 2
	}
	if *asJSON {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "spoofguard report:", err)
		return 2
	}
	return 0
}

// buildReport opens the store read-only (an existing one, schema as it
// is) and builds the report.
func buildReport(sc config.StoreConfig, o report.Options) (*report.Report, error) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{URL: sc.URL, Path: sc.Path, Existing: true})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return report.Build(ctx, st, o)
}
