package dnstest

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Resources is what a leak leaves behind in the test process: open file
// descriptors and goroutines.
type Resources struct{ FDs, Goroutines int }

// CountResources counts the process's open descriptors (/proc/self/fd)
// and goroutines.
func CountResources(tb testing.TB) Resources {
	tb.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Fatal(err)
	}
	return Resources{FDs: len(ents), Goroutines: runtime.NumGoroutine()}
}

// ExpectNoLeak waits up to settle for the counts to come back within
// slack of before (goroutines and sockets end a moment after the work
// that started them), logs "what: fds a → b, goroutines c → d" and fails
// the test when either stayed higher.
func ExpectNoLeak(tb testing.TB, before Resources, slack int, settle time.Duration, what string) Resources {
	tb.Helper()
	grown := func(r Resources) bool {
		return r.FDs > before.FDs+slack || r.Goroutines > before.Goroutines+slack
	}
	after := CountResources(tb)
	for deadline := time.Now().Add(settle); grown(after) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		after = CountResources(tb)
	}
	tb.Logf("%s: fds %d → %d, goroutines %d → %d", what, before.FDs, after.FDs, before.Goroutines, after.Goroutines)
	if grown(after) {
		tb.Errorf("leak after %s: fds %d → %d, goroutines %d → %d", what, before.FDs, after.FDs, before.Goroutines, after.Goroutines)
	}
	return after
}

// DeadAddr is an address where no DNS server answers and the kernel
// refuses at once: a stopped test server's port could be taken again by
// a test running in parallel, here or in another package's test process.
const DeadAddr = "127.0.0.1:1"

// TXTStrings writes a long TXT value for zone text as quoted strings of
// at most 255 bytes, the limit of one character-string, without the
// outermost quotes: `p=` + TXTStrings(key) goes between "…".
func TXTStrings(s string) string {
	var parts []string
	for len(s) > 255 {
		parts = append(parts, s[:255])
		s = s[255:]
	}
	return strings.Join(append(parts, s), `" "`)
}
