package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serveFails runs serve on the configuration and reports whether it
// exits with an error at once, as a restart would.
func serveFails(t *testing.T, cfg string) bool {
	t.Helper()
	done := make(chan int, 1)
	go func() {
		var out, errb bytes.Buffer
		done <- run([]string{"serve", "-config", cfg}, &out, &errb)
	}()
	select {
	case code := <-done:
		return code != 0
	case <-time.After(5 * time.Second):
		t.Fatal("serve started: the test leaves it running")
	}
	return false
}

// Each thing serve would fail on at start fails config check too, so
// that `config check && systemctl reload` is never followed by a failed
// restart; what may be the running daemon itself is a warning.
func TestConfigCheckHost(t *testing.T) {
	dir := t.TempDir()
	taken, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	file := filepath.Join(dir, "not-a-socket")
	os.WriteFile(file, nil, 0o644)
	rootOnly := filepath.Join(dir, "root-only")
	os.Mkdir(rootOnly, 0o755)
	for _, c := range []struct {
		name, config string
		user         string
		code         int
		want         string
		serveFails   bool
	}{
		{"socket group missing", "listen = \"unix:" + dir + "/a.sock\"\nsocket_group = \"no-such-group-sg\"", "root", 1, `group "no-such-group-sg" does not exist`, true},
		{"socket directory missing", "listen = \"unix:" + dir + "/missing/a.sock\"", "", 1, "socket directory " + dir + "/missing", true},
		{"socket path is a file", "listen = \"unix:" + file + "\"", "root", 1, "exists and is not a socket", true},
		{"address not on this host", "listen = \"inet:192.0.2.1:8955\"", "", 1, "serve could not listen on 192.0.2.1:8955", true},
		{"address in use", "listen = \"inet:" + taken.Addr().String() + "\"", "", 0, "is already in use", true},
		{"directory not writable", "listen = \"unix:" + rootOnly + "/a.sock\"", "nobody", 1, "user nobody cannot create the socket in " + rootOnly, false},
		{"wildcard", "listen = \"inet:0\"", "", 0, "0.0.0.0:0 listens on every interface", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "spoofguard.toml")
			os.WriteFile(cfg, []byte("[milter]\n"+c.config+"\n"), 0o644)
			args := []string{"config", "check", "-config", cfg}
			if c.user != "" {
				args = append(args, "-user", c.user)
			}
			out, errOut, code := runCommand(args...)
			if code != c.code || !strings.Contains(out+errOut, c.want) {
				t.Errorf("exit %d, want %d saying %q\nstdout: %s\nstderr: %s", code, c.code, c.want, out, errOut)
			}
			if c.serveFails && !serveFails(t, cfg) {
				t.Error("serve starts although config check refused or warned")
			}
		})
	}
}

// A good file prints the canonical listen address, and says that it
// protects nothing yet when it has no [[domain]].
func TestConfigCheckCanonicalAndNotes(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "spoofguard.toml")
	os.WriteFile(cfg, []byte("[milter]\nlisten = \"local:"+dir+"/milter.sock\"\n"), 0o644)
	out, errOut, code := runCommand("config", "check", "-config", cfg, "-user", "root")
	if code != 0 || !strings.Contains(out, "milter.listen unix:"+dir+"/milter.sock") || !strings.Contains(out, "note: no [[domain]]: this file protects nothing yet") {
		t.Errorf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	os.WriteFile(cfg, []byte("[milter]\nlisten = \"inet:0@127.0.0.1\"\n[[domain]]\nname = \"example.org\"\n"), 0o644)
	out, _, code = runCommand("config", "check", "-config", cfg)
	if code != 0 || !strings.Contains(out, "milter.listen inet:127.0.0.1:0") || strings.Contains(out, "warning") || strings.Contains(out, "note") {
		t.Errorf("libmilter spelling on loopback: exit %d\n%s", code, out)
	}
}

// -host=false checks the file alone, for a file meant for another host.
func TestConfigCheckFileOnly(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "spoofguard.toml")
	os.WriteFile(cfg, []byte("[milter]\nlisten = \"unix:/nonexistent-dir-sg/milter.sock\"\nsocket_group = \"no-such-group-sg\"\n"), 0o644)
	if _, errOut, code := runCommand("config", "check", "-config", cfg); code != 1 {
		t.Errorf("with the host checks: exit %d, want 1: %s", code, errOut)
	}
	if out, errOut, code := runCommand("config", "check", "-host=false", "-config", cfg); code != 0 || !strings.Contains(out, "OK") {
		t.Errorf("-host=false: exit %d\n%s%s", code, out, errOut)
	}
}
