package dnstest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Without the conformance data a test is skipped, with a note on how to
// run it; a data set that lacks one file is broken and fails.
func TestSharedTestdataAbsentSkips(t *testing.T) {
	t.Setenv("CI", "")
	t.Setenv("SPOOFGUARD_TESTDATA", filepath.Join(t.TempDir(), "absent"))
	var skipped bool
	t.Run("absent", func(st *testing.T) {
		defer func() { skipped = st.Skipped() }()
		SharedTestdata(st, "spf-openspf", "rfc7208-tests.yml")
		st.Error("returned a path for data that is not there")
	})
	if !skipped {
		t.Error("missing conformance data did not skip the test")
	}
}

func TestSharedTestdataPresent(t *testing.T) {
	t.Setenv("CI", "true")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "suite.yml"), nil, 0o644)
	t.Setenv("SPOOFGUARD_TESTDATA", dir)
	if got := SharedTestdata(t, "suite.yml"); got != filepath.Join(dir, "suite.yml") {
		t.Errorf("path %q", got)
	}
}

// Under CI the same test fails: every suite must run there. Run in a
// child process, as a failing test cannot be observed from inside.
func TestSharedTestdataRequiredInCI(t *testing.T) {
	for _, c := range []struct {
		name, ci, data string
	}{
		{"ci-absent", "true", "absent"},
		{"file-missing", "", "empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			data := filepath.Join(dir, c.data)
			if c.data == "empty" {
				os.Mkdir(data, 0o755)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestSharedTestdataChild$", "-test.v")
			cmd.Env = append(os.Environ(), "DNSTEST_CHILD=1", "CI="+c.ci, "SPOOFGUARD_TESTDATA="+data)
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), "--- FAIL") || strings.Contains(string(out), "--- SKIP") {
				t.Errorf("child passed or skipped, want a failure:\n%s", out)
			}
		})
	}
}

func TestSharedTestdataChild(t *testing.T) {
	if os.Getenv("DNSTEST_CHILD") == "" {
		t.Skip("run by TestSharedTestdataRequiredInCI")
	}
	SharedTestdata(t, "suite.yml")
}

func TestRequireTestdata(t *testing.T) {
	for v, want := range map[string]bool{"": false, "false": false, "0": false, "true": true, "1": true, "TRUE": true} {
		t.Setenv("CI", v)
		if got := RequireTestdata(); got != want {
			t.Errorf("CI=%q: %v, want %v", v, got, want)
		}
	}
}

func TestOptionalTestdata(t *testing.T) {
	t.Setenv("CI", "")
	t.Setenv("SPOOFGUARD_TESTDATA", filepath.Join(t.TempDir(), "absent"))
	if p, ok := OptionalTestdata(t, "suite.yml"); ok {
		t.Errorf("absent data reported present: %q", p)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "suite.yml"), nil, 0o644)
	t.Setenv("SPOOFGUARD_TESTDATA", dir)
	if p, ok := OptionalTestdata(t, "suite.yml"); !ok || p != filepath.Join(dir, "suite.yml") {
		t.Errorf("present data: %q %v", p, ok)
	}
}
