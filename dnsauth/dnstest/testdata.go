package dnstest

import (
	"os"
	"path/filepath"
	"testing"
)

// SharedTestdata returns the path of a file or folder in the public
// conformance data that sits beside the checkout (../shared/testdata from
// the repository root), or in $SPOOFGUARD_TESTDATA when that is set. A
// test that needs it fails, never skips, when it is missing: the suites it
// holds are part of what `make test` promises.
func SharedTestdata(tb testing.TB, elem ...string) string {
	tb.Helper()
	base := os.Getenv("SPOOFGUARD_TESTDATA")
	if base == "" {
		root, err := RepoRoot()
		if err != nil {
			tb.Fatalf("dnstest: %v", err)
		}
		base = filepath.Join(filepath.Dir(root), "shared", "testdata")
	}
	p := filepath.Join(append([]string{base}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("dnstest: shared test data missing: %v", err)
	}
	return p
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
