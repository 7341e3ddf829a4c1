package postfix

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

// Build compiles the spoofguard command of the repository that holds the
// working directory into dir and returns the binary's path. The suite
// tests the binary an administrator would run, not code linked into the
// test.
func Build(dir string) (string, error) {
	root, err := dnstest.RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "spoofguard")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/spoofguard")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/spoofguard: %v\n%s", err, out)
	}
	return bin, nil
}

// Daemon is a running "spoofguard serve".
type Daemon struct {
	// Listen is the milter address from the configuration, Postfix syntax.
	Listen string

	cmd     *exec.Cmd
	out     lockedBuffer
	started *startWatch // sees the daemon's start line go by
	done    chan struct{}
	err     error // the exit status, valid once done is closed
}

// StartDaemon runs "bin serve -config config" and waits until it accepts
// milter connections at listen. It is stopped with SIGTERM when the test
// ends; its log (stderr and stdout) goes to the test log if the test failed.
func StartDaemon(t testing.TB, bin, config, listen string) *Daemon {
	t.Helper()
	d := &Daemon{Listen: listen, done: make(chan struct{})}
	// Cleanups run last first: the log is shown after the daemon stopped.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("spoofguard serve log:\n%s", d.Log())
		}
	})
	d.start(t, bin, config, &d.out)
	if err := d.waitReady(10 * time.Second); err != nil {
		t.Fatalf("spoofguard serve: %v\nlog:\n%s", err, d.Log())
	}
	return d
}

// start runs "bin serve -config config" with its output going to out,
// and stops it with SIGTERM when the test ends.
func (d *Daemon) start(t testing.TB, bin, config string, out io.Writer) {
	t.Helper()
	d.cmd = exec.Command(bin, "serve", "-config", config)
	d.started = &startWatch{w: out}
	d.cmd.Stdout = d.started
	d.cmd.Stderr = d.started
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("spoofguard serve: %v", err)
	}
	go func() {
		d.err = d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("spoofguard serve: %v", err)
		}
	})
}

// waitReady waits until the daemon says it started and its address
// accepts connections, or fails early if it exits.
func (d *Daemon) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-d.done:
			return fmt.Errorf("exited before listening: %v", d.err)
		default:
		}
		// The log line proves that this daemon bound the address, not
		// another process that happens to listen there.
		if d.started.seen.Load() && WaitListening(d.Listen, 100*time.Millisecond) == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening at %s after %v", d.Listen, timeout)
		}
	}
}

// startLine is what the daemon logs once it holds its listener.
const startLine = "spoofguard started"

// startWatch passes the daemon's output on to w and notes when the start
// line has gone by (a line may come in two writes).
type startWatch struct {
	w    io.Writer
	mu   sync.Mutex
	tail []byte
	seen atomic.Bool
}

func (s *startWatch) Write(p []byte) (int, error) {
	if !s.seen.Load() {
		s.mu.Lock()
		s.tail = append(s.tail, p...)
		if bytes.Contains(s.tail, []byte(startLine)) {
			s.seen.Store(true)
			s.tail = nil
		} else if len(s.tail) > len(startLine) {
			s.tail = s.tail[len(s.tail)-len(startLine):]
		}
		s.mu.Unlock()
	}
	return s.w.Write(p)
}

// Log is what the daemon has written so far.
func (d *Daemon) Log() string { return d.out.String() }

// Running reports whether the process is still alive.
func (d *Daemon) Running() bool {
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// Stop sends SIGTERM (a graceful stop) and waits for the exit, which must
// be clean; after 10 seconds it kills the process and reports that.
func (d *Daemon) Stop() error {
	if !d.Running() {
		return nil
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		if d.err != nil {
			return fmt.Errorf("after SIGTERM: %v (a graceful stop exits 0)", d.err)
		}
		return nil
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
		return errors.New("did not stop within 10s of SIGTERM; killed")
	}
}

// Signal sends sig to the daemon (e.g. SIGHUP to reload).
func (d *Daemon) Signal(sig os.Signal) error { return d.cmd.Process.Signal(sig) }

// lockedBuffer collects a process's output while tests read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
