//go:build load

package load

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/spoofguard/spoofguard/test/postfix"
)

// The size of each run. The defaults are the figures of
// docs/PERFORMANCE.md, except the hardening run (100,000 there).
var (
	flagMessages  = flag.Int("load.messages", 1000, "messages per throughput run")
	flagSessions  = flag.String("load.sessions", "10,50", "parallel SMTP sessions of the throughput runs (comma-separated)")
	flagReps      = flag.Int("load.reps", 3, "repetitions of each throughput run (the median is reported)")
	flagLatency   = flag.Int("load.latency", 1000, "messages per configuration in the end-of-data latency run")
	flagHardening = flag.Int("load.hardening", 20000, "messages in the hardening run")
	flagNull      = flag.Bool("load.null", true, "TestThroughput: also measure Postfix with the null milter, an accept-all yardstick")
	flagTargets   = flag.Bool("load.targets", true, "fail when a performance target is missed (false: report only)")
)

// TestMain refuses to run where the suite cannot: it starts Postfix
// instances as root and drives them with smtp-source. Missing
// prerequisites fail the run; they are never a reason to skip.
func TestMain(m *testing.M) {
	flag.Parse()
	if err := prerequisites(); err != nil {
		fmt.Fprintf(os.Stderr, "load: %v\n", err)
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
		return fmt.Errorf("must run as root (private Postfix instances); use make loadtest")
	}
	for _, tool := range []string{"postfix", "postconf", "postqueue", "smtp-source", "cc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found; run test/e2e/install.sh (cc: install a C compiler, e.g. gcc)", tool)
		}
	}
	if _, err := parseSessions(); err != nil {
		return err
	}
	return nil
}

func parseSessions() ([]int, error) {
	var out []int
	for _, f := range strings.Split(*flagSessions, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-load.sessions %q: want positive numbers separated by commas", *flagSessions)
		}
		out = append(out, n)
	}
	return out, nil
}

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	shimPath  string
	binErr    error
)

// build compiles ./cmd/spoofguard and the source-address shim once for
// the whole run: the suite measures the binary an administrator runs.
func build(t *testing.T) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "spoofguard-load-bin-")
		if binErr == nil {
			binPath, binErr = postfix.Build(binDir)
		}
		if binErr == nil {
			shimPath, binErr = postfix.BuildBindShim(binDir)
		}
		os.Chmod(binDir, 0o755)
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
}

func spoofguardBinary(t *testing.T) string {
	build(t)
	return binPath
}

// bindShim is the library that makes smtp-source connect from clientIP.
func bindShim(t *testing.T) string {
	build(t)
	return shimPath
}

// target checks a performance target: a miss fails the test unless
// -load.targets=false, and is always logged with the figures.
func target(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	switch {
	case ok:
		t.Logf("target met: "+format, args...)
	case *flagTargets:
		t.Errorf("TARGET MISSED: "+format, args...)
	default:
		t.Logf("TARGET MISSED (report only): "+format, args...)
	}
}
