package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

// With the resolver down the audit cannot run (exit 2) and says so,
// instead of reporting FAILs against the audited domain.
func TestAuditResolverDown(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "spoofguard.toml")
	text := "[dns]\nservers = [\"" + dnstest.DeadAddr + "\"]\ntimeout = \"500ms\"\n[[domain]]\nname = \"example.org\"\n"
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCommand("audit", "-config", cfg)
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if want := "spoofguard audit: cannot run: resolver " + dnstest.DeadAddr + " unreachable"; !strings.Contains(errOut, want) {
		t.Errorf("stderr %q, want %q", errOut, want)
	}
	if strings.Contains(out, "example.org") {
		t.Errorf("the domain is reported on although nothing could be checked:\n%s", out)
	}
}
