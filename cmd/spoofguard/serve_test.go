package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"

	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

// The daemon is tested here as the service manager runs it: a separate
// process, told about readiness through $NOTIFY_SOCKET, reloaded with
// SIGHUP, stopped with SIGTERM, and optionally handed its socket.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func daemonBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "spoofguard-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "spoofguard")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

const serveConfig = `
[milter]
listen = "inet:127.0.0.1:%d"
authserv_id = "mx.example.org"
mode = "%s"
[dns]
servers = ["%s"]
[[domain]]
name = "example.org"
`

type serveWorld struct {
	t       *testing.T
	dir     string
	cfg     string
	port    int
	dns     *dnstest.Server
	notify  *net.UnixConn
	cmd     *exec.Cmd
	log     *syncBuf
	waitErr chan error
}

func newServeWorld(t *testing.T) *serveWorld {
	w := &serveWorld{t: t, dir: t.TempDir(), dns: dnstest.New(t, `example.org. IN TXT "v=spf1 -all"`), log: &syncBuf{}}
	w.cfg = filepath.Join(w.dir, "spoofguard.toml")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	w.writeConfig("enforce")
	sock := filepath.Join(w.dir, "notify.sock")
	w.notify, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.notify.Close() })
	return w
}

func (w *serveWorld) writeConfig(mode string) {
	os.WriteFile(w.cfg, []byte(fmt.Sprintf(serveConfig, w.port, mode, w.dns.Addr)), 0o644)
}

// start runs the daemon; extra files become fds 3, 4, ...
func (w *serveWorld) start(env []string, files ...*os.File) {
	w.t.Helper()
	bin := daemonBinary(w.t)
	// LISTEN_PID must be the daemon's own pid: exec from a shell keeps it.
	w.cmd = exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" serve -config "$1"`, bin, w.cfg)
	w.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+w.notify.LocalAddr().String())
	w.cmd.Env = append(w.cmd.Env, env...)
	w.cmd.ExtraFiles = files
	w.cmd.Stderr = w.log
	if err := w.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.waitErr = make(chan error, 1)
	go func() { w.waitErr <- w.cmd.Wait() }()
	w.t.Cleanup(func() {
		w.cmd.Process.Kill()
		<-w.waitErr
	})
}

// expect waits for a datagram on the notify socket containing want.
func (w *serveWorld) expect(want string) string {
	w.t.Helper()
	buf := make([]byte, 4096)
	w.notify.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		n, err := w.notify.Read(buf)
		if err != nil {
			w.t.Fatalf("waiting for %q: %v\ndaemon log:\n%s", want, err, w.log.String())
		}
		if msg := string(buf[:n]); strings.Contains(msg, want) {
			return msg
		}
	}
}

func (w *serveWorld) signal(sig syscall.Signal) {
	w.t.Helper()
	if err := w.cmd.Process.Signal(sig); err != nil {
		w.t.Fatal(err)
	}
}

// probe sends a forged own-domain envelope sender and reports whether the
// daemon rejected it at MAIL FROM (enforce) or let it pass (report-only).
func probe(t *testing.T, addr string) bool {
	t.Helper()
	s, err := gomilter.NewClient("tcp", addr).Session(gomilter.NewMacroBag())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Conn("spam.example", gomilter.FamilyInet, 1, "192.0.2.66")
	s.Helo("spam.example")
	a, err := s.Mail("ceo@example.org", "")
	if err != nil {
		t.Fatal(err)
	}
	return a.Type == gomilter.ActionRejectWithCode
}

func TestServeUnderServiceManager(t *testing.T) {
	w := newServeWorld(t)
	w.start(nil)
	w.expect("READY=1")
	addr := fmt.Sprintf("127.0.0.1:%d", w.port)
	if !probe(t, addr) {
		t.Fatal("not enforcing at start")
	}

	// SIGHUP with a good file: reloaded, and systemd hears RELOADING then READY.
	w.writeConfig("report-only")
	w.signal(syscall.SIGHUP)
	if msg := w.expect("RELOADING=1"); !strings.Contains(msg, "MONOTONIC_USEC=") {
		t.Errorf("reload notification lacks MONOTONIC_USEC: %q", msg)
	}
	w.expect("READY=1")
	if probe(t, addr) {
		t.Error("still enforcing after reloading a report-only file")
	}

	// SIGHUP with a bad file: refused, the running configuration stays,
	// and the daemon does not stop (OpenDMARC once took SIGHUP as shutdown).
	os.WriteFile(w.cfg, []byte("[milter]\nmode = \"maybe\"\n"), 0o644)
	w.signal(syscall.SIGHUP)
	w.expect("READY=1")
	if probe(t, addr) {
		t.Error("a refused reload changed the running configuration")
	}
	if !strings.Contains(w.log.String(), "configuration reload refused") || !strings.Contains(w.log.String(), "milter.mode") {
		t.Errorf("refused reload not explained in the log:\n%s", w.log.String())
	}

	w.signal(syscall.SIGTERM)
	w.expect("STOPPING=1")
	select {
	case err := <-w.waitErr:
		w.waitErr <- err
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, w.log.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("daemon did not exit after SIGTERM")
	}
}

func TestServeSocketActivation(t *testing.T) {
	w := newServeWorld(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	defer f.Close()
	w.start([]string{"LISTEN_FDS=1"}, f)
	w.expect("READY=1")
	if !probe(t, addrOf(t, f)) {
		t.Error("the socket handed over by the service manager does not serve")
	}
	if !strings.Contains(w.log.String(), "systemd socket activation") {
		t.Errorf("log does not say the socket came from systemd:\n%s", w.log.String())
	}
}

// addrOf is the address of a listening socket held as a file.
func addrOf(t *testing.T, f *os.File) string {
	t.Helper()
	ln, err := net.FileListener(f)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestServeRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bad.toml")
	os.WriteFile(cfg, []byte("[dns]\ntimeout = \"soon\"\n[milter]\nlisten = \"tcp:x\"\n"), 0o644)
	var stderr bytes.Buffer
	if code := run([]string{"serve", "-config", cfg}, &bytes.Buffer{}, &stderr); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{"bad.toml:2: dns.timeout", "bad.toml:4: milter.listen"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
