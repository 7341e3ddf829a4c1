package config

import (
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spoofguard/spoofguard/store"
)

// StoreConfig is the [store] table: the record of decisions that
// `spoofguard report` reads. It is read at start; a change takes a
// restart, not a reload.
type StoreConfig struct {
	// Enabled: on by default. The embedded file is used only
	// when its directory exists (the package creates the state
	// directory), so a daemon run by hand records nothing by surprise.
	Enabled *bool `toml:"enabled"`
	// URL is "" for the embedded file at Path, or postgres://… to share
	// one PostgreSQL server between several MX hosts.
	URL     string    `toml:"url"`
	Path    string    `toml:"path"`     // the embedded file
	Keep    Retention `toml:"keep"`     // how long records stay
	MaxRows int       `toml:"max_rows"` // records kept at most, oldest dropped first
	Queue   int       `toml:"queue"`    // records waiting to be written; beyond, they are dropped and counted
}

// On reports whether decisions are recorded.
func (s *StoreConfig) On() bool { return s.Enabled == nil || *s.Enabled }

func defaultStore() StoreConfig {
	return StoreConfig{Enabled: boolPtr(true), Path: store.DefaultPath, Keep: Retention{30 * 24 * time.Hour}, MaxRows: 2_000_000, Queue: 10000}
}

// Retention is a period written in days ("30d"), weeks ("2w") or as a
// Go duration ("36h"): retention is thought of in days, which Go
// durations cannot spell.
type Retention struct{ time.Duration }

// UnmarshalText parses "30d", "2w" or a Go duration.
func (r *Retention) UnmarshalText(text []byte) error {
	d, err := ParsePeriod(string(text))
	if err != nil {
		return err
	}
	r.Duration = d
	return nil
}

// MarshalText writes whole days as "Nd".
func (r Retention) MarshalText() ([]byte, error) {
	if r.Duration%(24*time.Hour) == 0 {
		return []byte(strconv.FormatInt(int64(r.Duration/(24*time.Hour)), 10) + "d"), nil
	}
	return []byte(r.Duration.String()), nil
}

// ParsePeriod reads a period as "30d", "2w" or a Go duration ("36h");
// `spoofguard report --since` takes the same forms.
func ParsePeriod(s string) (time.Duration, error) {
	unit := map[byte]time.Duration{'d': 24 * time.Hour, 'w': 7 * 24 * time.Hour}
	if n := len(s); n > 1 && unit[s[n-1]] != 0 {
		if k, err := strconv.ParseUint(s[:n-1], 10, 16); err == nil {
			return time.Duration(k) * unit[s[n-1]], nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return d, nil
	}
	return 0, fmt.Errorf("invalid period %s: want days (\"30d\"), weeks (\"2w\") or a duration (\"36h\")", quote(s))
}

// store checks the [store] table.
func (v *checker) store() {
	s := &v.c.Store
	if _, err := store.BackendOf(s.URL); err != nil {
		v.report("store.url", "%v", err)
	}
	if s.Path == "" || !filepath.IsAbs(s.Path) {
		v.report("store.path", "%s: want an absolute path, such as %s", quote(s.Path), store.DefaultPath)
	}
	if s.Keep.Duration < time.Hour {
		v.report("store.keep", "%s is too short: at least an hour, usually weeks (\"30d\")", s.Keep.Duration)
	}
	if s.MaxRows < 1000 {
		v.report("store.max_rows", "%d: at least 1000", s.MaxRows)
	}
	v.intIn("store.queue", s.Queue, 100, 1_000_000)
}
