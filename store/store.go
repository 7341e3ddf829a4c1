package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// DefaultPath is the embedded store's file: the state directory the
// package creates and the systemd unit lets the daemon write.
const DefaultPath = "/var/lib/spoofguard/spoofguard.db"

// Backend names, as Store.Backend returns them.
const (
	BackendSQLite   = "sqlite"
	BackendPostgres = "postgres"
)

// Store is where records are kept. Both backends implement it.
type Store interface {
	// Insert writes records in one transaction.
	Insert(ctx context.Context, recs []Record) error
	// Scan calls fn for each record matching q, oldest first. The record
	// is reused between calls.
	Scan(ctx context.Context, q Query, fn func(*Record) error) error
	// Count is how many records match q.
	Count(ctx context.Context, q Query) (int64, error)
	// Prune deletes the records older than before and, beyond the
	// newest maxRows (0: no cap), the oldest; it returns how many.
	Prune(ctx context.Context, before time.Time, maxRows int64) (int64, error)
	// Backend names the backend (BackendSQLite, BackendPostgres).
	Backend() string
	Close() error
}

// Query selects records: those at or after Since (zero: all), about
// Domain ("" : every domain).
type Query struct {
	Since  time.Time
	Domain string
}

// Options say which store to open.
type Options struct {
	// URL is "" for the embedded file at Path, or a postgres:// or
	// postgresql:// URL (any libpq connection URL pgx accepts).
	URL string
	// Path is the embedded file; "" means DefaultPath.
	Path string
	// Existing opens a store that must exist already, and leaves its
	// schema alone: what a reader such as `spoofguard report` wants,
	// so that it neither creates an empty file nor migrates the schema
	// behind the daemon's back.
	Existing bool
}

// Open opens the store the options name and, unless Existing is set,
// brings its schema up to date.
func Open(ctx context.Context, o Options) (Store, error) {
	backend, err := BackendOf(o.URL)
	if err != nil {
		return nil, err
	}
	if backend == BackendPostgres {
		return openPostgres(ctx, o)
	}
	return openSQLite(ctx, o)
}

// BackendOf tells which backend a store URL selects, or why the URL is
// not one: configuration checks call it so that a typo is an error at
// load time, not a store that never opens.
func BackendOf(raw string) (string, error) {
	if raw == "" {
		return BackendSQLite, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("store url: %w", redactErr(err, raw))
	}
	switch strings.ToLower(u.Scheme) {
	case "postgres", "postgresql":
		if u.Host == "" && u.Query().Get("host") == "" {
			return "", errors.New("store url: no host in " + Redact(raw))
		}
		return BackendPostgres, nil
	}
	return "", fmt.Errorf("store url: scheme %q is not postgres:// or postgresql:// (leave url empty for the embedded file)", u.Scheme)
}

// Redact is the URL with its password replaced, for logs and errors.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable url)"
	}
	return u.Redacted()
}

// redactErr drops the URL (which may carry a password) from a parse
// error's text.
func redactErr(err error, raw string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return errors.New(strings.ReplaceAll(ue.Err.Error(), raw, Redact(raw)))
	}
	return err
}
