package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/policy"
	"github.com/spoofguard/spoofguard/policy/audit"
)

// auditTimeout bounds the whole audit; each lookup is bounded by the
// resolver's own timeout and retries.
const auditTimeout = 2 * time.Minute

// auditCmd checks the DNS posture of the protected domains (or of the
// domains named). Exit status: 0 when nothing FAILs, 1 when something
// does, 2 when the audit cannot run (bad command line or configuration).
func auditCmd(args []string, stdout, stderr io.Writer) int {
	fs, path := newFlags("audit", stderr)
	asJSON := fs.Bool("json", false, "print one JSON object instead of the findings")
	names, ok := parseInterspersed(fs, args)
	if !ok {
		return 2
	}
	cfg, err := config.LoadConfig(*path)
	if err != nil {
		printConfigError(stderr, err)
		return 2
	}
	if len(names) == 0 && len(cfg.Domains) == 0 {
		fmt.Fprintf(stderr, "spoofguard audit: %s protects no domain; name the domains to audit\n", *path)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), auditTimeout)
	defer cancel()
	e, err := auditEngine(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "spoofguard audit: cannot run:", err)
		return 2
	}
	defer e.Close()
	rep := audit.Run(ctx, e, names)
	if *asJSON {
		err = writeJSON(stdout, rep)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "spoofguard audit:", err)
		return 2
	}
	if rep.Failed() {
		return 1
	}
	return 0
}

// auditEngine builds the engine once the resolver is known to answer:
// with the resolver down every lookup fails, and each failure would be
// reported against the audited domain.
func auditEngine(ctx context.Context, cfg *config.Config) (*policy.Engine, error) {
	res, err := newResolver(cfg)
	if err != nil {
		return nil, err
	}
	if err := audit.CheckResolver(ctx, res.Servers(), cfg.DNS.Timeout.Duration); err != nil {
		return nil, err
	}
	return engineOn(ctx, cfg, res, policy.Options{}), nil
}
