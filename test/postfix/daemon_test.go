package postfix

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeDaemon is a shell script standing in for "spoofguard serve": it
// runs body, then waits for SIGTERM and exits 0 as the daemon does.
func fakeDaemon(t *testing.T, body string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "spoofguard")
	script := "#!/bin/sh\ntrap 'exit 0' TERM\n" + body + "\nwhile :; do sleep 0.05; done\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// foreignListener listens on a fresh port of 127.0.0.1 in the test
// process: another server that answers where the daemon should be.
func foreignListener(t *testing.T) string {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return "inet:127.0.0.1:" + strconv.Itoa(port)
}

// A listener at the daemon's address is not enough: a daemon that has
// not said it started (say, it failed to bind because another test's
// server holds the port) is not ready, and one that exits is reported.
func TestWaitReadyWantsTheDaemonsOwnStart(t *testing.T) {
	listen := foreignListener(t)

	silent := &Daemon{Listen: listen, done: make(chan struct{})}
	silent.start(t, fakeDaemon(t, ""), "unused.toml", &silent.out)
	if err := silent.waitReady(500 * time.Millisecond); err == nil {
		t.Error("ready although the daemon never logged its start; another process holds the address")
	}

	exited := &Daemon{Listen: listen, done: make(chan struct{})}
	exited.start(t, fakeDaemon(t, "echo 'listen: address already in use' >&2; exit 1"), "unused.toml", &exited.out)
	if err := exited.waitReady(5 * time.Second); err == nil || !strings.Contains(err.Error(), "exited before listening") {
		t.Errorf("a daemon that exits: waitReady = %v, want exited before listening", err)
	}

	started := &Daemon{Listen: listen, done: make(chan struct{})}
	started.start(t, fakeDaemon(t, `echo 'level=INFO msg="spoofguard started" listen=x'`), "unused.toml", &started.out)
	if err := started.waitReady(5 * time.Second); err != nil {
		t.Errorf("the daemon logged its start and the address answers: %v", err)
	}
}

// The start line is seen when it arrives in pieces, and the output is
// passed on whole.
func TestStartWatchSplitLine(t *testing.T) {
	var out lockedBuffer
	s := &startWatch{w: &out}
	for _, part := range []string{"level=INFO msg=\"spoofguard st", "ar", "ted\" listen=x\n"} {
		if s.seen.Load() {
			t.Fatalf("seen before %q arrived", part)
		}
		s.Write([]byte(part))
	}
	if !s.seen.Load() {
		t.Error("start line written in three pieces not seen")
	}
	if got := out.String(); got != "level=INFO msg=\"spoofguard started\" listen=x\n" {
		t.Errorf("output passed on as %q", got)
	}
}

// FreePort never hands out a port twice, and takes them from below the
// kernel's ephemeral range.
func TestFreePortUniqueAndBelowEphemeral(t *testing.T) {
	seen := map[int]bool{}
	for range 300 {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		if p < portsLow || p >= portsHigh || p >= 32768 {
			t.Fatalf("port %d outside %d-%d", p, portsLow, portsHigh-1)
		}
	}
}
