package milter

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// setLogTable rewrites the world's [log] table.
func (w *daemonWorld) setLogTable(lines string) {
	w.t.Helper()
	data, err := os.ReadFile(w.cfgPath)
	if err != nil {
		w.t.Fatal(err)
	}
	out := strings.Replace(string(data), "[log]\nformat = \"json\"\n", "[log]\n"+lines+"\n", 1)
	if out == string(data) {
		w.t.Fatal("no [log] table to rewrite")
	}
	if err := os.WriteFile(w.cfgPath, []byte(out), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// syslogSocket stands in for /dev/log: a unixgram socket whose datagrams
// the test reads.
type syslogSocket struct {
	t    *testing.T
	path string
	conn *net.UnixConn
}

func newSyslogSocket(t *testing.T) *syslogSocket {
	path := filepath.Join(t.TempDir(), "log")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &syslogSocket{t: t, path: path, conn: c}
}

// next waits for the datagram containing want.
func (s *syslogSocket) next(want string) string {
	s.t.Helper()
	buf := make([]byte, 64<<10)
	s.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, err := s.conn.Read(buf)
		if err != nil {
			s.t.Fatalf("no syslog datagram with %q: %v", want, err)
		}
		if line := string(buf[:n]); strings.Contains(line, want) {
			return line
		}
	}
}

// TestSyslogOutput: with log.output = "syslog" every line reaches the
// syslog socket with the mail facility (2; RFC 5424 §6.2.1), the
// severity of its level and the tag spoofguard, without a time of its
// own, and nothing goes to standard error.
func TestSyslogOutput(t *testing.T) {
	sock := newSyslogSocket(t)
	w := newIdleDaemonWorld(t, "")
	w.setLogTable("output = \"syslog\"")
	w.startWith(Options{SyslogSocket: sock.path, Version: "1.2.3"})
	pid := strconv.Itoa(os.Getpid())
	stamp := `[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d`

	started := sock.next("spoofguard started")
	// mail.info = 2*8 + 6
	if !regexp.MustCompile(`^<22>` + stamp + ` spoofguard\[` + pid + `\]: level=INFO msg="spoofguard started" version=1\.2\.3 `).MatchString(started) {
		t.Errorf("start line: %q", started)
	}
	send(t, w.d.Addr().String(), "192.0.2.66", "spam.example", "", "ceo@example.org", []string{"user@edge.example"},
		w.message("CEO <ceo@example.org>", false, ""))
	if line := sock.next("msg=message"); !strings.HasPrefix(line, "<22>") || strings.Contains(line, "time=") {
		t.Errorf("message line: %q", line)
	}

	// mail.warning = 16+4, mail.err = 16+3
	os.WriteFile(w.cfgPath, []byte(strings.Replace(readFile(t, w.cfgPath), `"inet:127.0.0.1:0"`, `"inet:127.0.0.1:1"`, 1)), 0o644)
	w.d.Reload()
	if line := sock.next("listen addresses changed"); !strings.HasPrefix(line, "<20>") {
		t.Errorf("warning: %q", line)
	}
	os.WriteFile(w.cfgPath, []byte("[milter]\nmode = \"sometimes\"\n"), 0o644)
	w.d.Reload()
	if line := sock.next("reload refused"); !strings.HasPrefix(line, "<19>") {
		t.Errorf("error: %q", line)
	}
	if s := w.logs.String(); s != "" {
		t.Errorf("standard error got lines too:\n%s", s)
	}
}

// TestSyslogUnreachable: a syslog socket that is not there fails the
// start with a clear error instead of losing every line.
func TestSyslogUnreachable(t *testing.T) {
	w := newIdleDaemonWorld(t, "")
	w.setLogTable("output = \"syslog\"")
	_, err := New(Options{ConfigPath: w.cfgPath, SyslogSocket: filepath.Join(t.TempDir(), "absent")})
	if err == nil || !strings.Contains(err.Error(), `log.output = "syslog"`) {
		t.Errorf("New with no syslog socket: %v", err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestJournalDropsTime: when standard error is the journal's stream
// (JOURNAL_STREAM names its device and inode) the lines carry no time,
// which the journal adds; on any other stream they keep it.
func TestJournalDropsTime(t *testing.T) {
	for _, journal := range []bool{true, false} {
		f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
		if err != nil {
			t.Fatal(err)
		}
		var st syscall.Stat_t
		if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
			t.Fatal(err)
		}
		ino := st.Ino
		if !journal {
			ino++ // the journal's stream is some other file
		}
		t.Setenv("JOURNAL_STREAM", strconv.FormatUint(uint64(st.Dev), 10)+":"+strconv.FormatUint(ino, 10))
		w := newIdleDaemonWorld(t, "")
		w.setLogTable(`format = "text"`)
		w.startWith(Options{LogOutput: f})
		out := readFile(t, f.Name())
		if !strings.Contains(out, `msg="spoofguard started"`) {
			t.Fatalf("no start line:\n%s", out)
		}
		if has := strings.Contains(out, "time="); has == journal {
			t.Errorf("journal %v: time in the lines = %v:\n%s", journal, has, out)
		}
		f.Close()
	}
}

// TestRecipientSpelling: the refused-recipient line and the message line
// spell a recipient the same way, as the engine judged it, even when the
// MTA passed it with extra angle brackets.
func TestRecipientSpelling(t *testing.T) {
	w := newDaemonWorld(t, "")
	send(t, w.d.Addr().String(), "192.0.2.66", "spam.example", "", "x@spammer.example",
		[]string{"<<bob@example.org>>", "carol@edge.example"}, w.message("x@spammer.example", false, ""))
	var refused, message map[string]any
	for _, line := range strings.Split(w.logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		switch rec["msg"] {
		case "recipient refused":
			refused = rec
		case "message":
			message = rec
		}
	}
	if refused == nil || message == nil {
		t.Fatalf("missing lines:\n%s", w.logs.String())
	}
	if refused["rcpt"] != "bob@example.org" || message["rcpt"] != "bob@example.org,carol@edge.example" {
		t.Errorf("rcpt: refused %q, message %q", refused["rcpt"], message["rcpt"])
	}
}
