//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/spoofguard/spoofguard/test/postfix"
)

// TestMain refuses to run where the suite cannot: it starts Postfix
// instances and binds loopback source addresses, which needs root and the
// tools that test/e2e/install.sh installs. Missing prerequisites fail the
// run; they are never a reason to skip.
func TestMain(m *testing.M) {
	if err := prerequisites(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func prerequisites() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("must run as root (private Postfix instances); use make e2e")
	}
	for _, tool := range []string{"postfix", "postconf", "postqueue", "postcat", "swaks"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found; run test/e2e/install.sh", tool)
		}
	}
	return nil
}

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	binErr    error
)

// spoofguardBinary builds ./cmd/spoofguard once for the whole run. Only
// the tests that need the daemon ask for it, so the harness tests still
// tell whether Postfix works when the daemon does not build.
func spoofguardBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "spoofguard-e2e-bin-")
		if binErr == nil {
			binPath, binErr = postfix.Build(binDir)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}
