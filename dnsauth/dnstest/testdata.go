package dnstest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// SharedTestdata returns the path of a file or folder in the public
// conformance data (the SPF, DKIM and DMARC suites of other projects),
// which is not part of the repository: it sits beside the checkout
// (../shared/testdata from the repository root), or in
// $SPOOFGUARD_TESTDATA when that is set.
//
// When the data is absent altogether the test is skipped with a one-line
// note on how to run it, so that a fresh clone passes `make test`; under
// CI (CI=true, which `make conformance` sets too) it fails instead, so no
// suite is lost without notice. A data set that is present but lacks the
// file asked for is broken, and fails everywhere.
func SharedTestdata(tb testing.TB, elem ...string) string {
	tb.Helper()
	base, err := sharedBase()
	if err != nil {
		tb.Fatalf("dnstest: %v", err)
	}
	if _, err := os.Stat(base); errors.Is(err, fs.ErrNotExist) && !RequireTestdata() {
		tb.Skipf("conformance data not found at %s: skipped; set SPOOFGUARD_TESTDATA or run `make conformance`", base)
	}
	p := filepath.Join(append([]string{base}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("dnstest: shared test data missing: %v", err)
	}
	return p
}

// OptionalTestdata is SharedTestdata for data that only enriches a test,
// such as the seeds of a fuzz target: without the data set (and outside
// CI) it reports false instead of skipping the whole test.
func OptionalTestdata(tb testing.TB, elem ...string) (string, bool) {
	tb.Helper()
	base, err := sharedBase()
	if err == nil && !RequireTestdata() {
		if _, err := os.Stat(base); errors.Is(err, fs.ErrNotExist) {
			return "", false
		}
	}
	return SharedTestdata(tb, elem...), true
}

// sharedBase is where the conformance data is expected.
func sharedBase() (string, error) {
	if base := os.Getenv("SPOOFGUARD_TESTDATA"); base != "" {
		return base, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(root), "shared", "testdata"), nil
}

// RequireTestdata reports whether missing conformance data fails the
// tests instead of skipping them: in CI, where every suite must run.
func RequireTestdata() bool {
	switch strings.ToLower(os.Getenv("CI")) {
	case "", "0", "false", "no":
		return false
	}
	return true
}

// RepoRoot walks up from the working directory (a test's package folder)
// to the folder holding go.mod: the repository root.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}
