package sendmail

import (
	"bytes"
	"embed"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/spoofguard/spoofguard/test/postfix"
)

//go:embed templates/*.tmpl
var templates embed.FS

// Root is the folder Sendmail's packages were unpacked into by
// install.sh: $SENDMAIL_ROOT, or /opt/spoofguard-e2e/sendmail.
func Root() string {
	if r := os.Getenv("SENDMAIL_ROOT"); r != "" {
		return r
	}
	return "/opt/spoofguard-e2e/sendmail"
}

// Binary is the unpacked sendmail program.
func Binary() string { return filepath.Join(Root(), "usr/libexec/sendmail/sendmail") }

// cfDir holds the m4 macros sendmail.cf is built from (sendmail-cf).
func cfDir() string { return filepath.Join(Root(), "usr/share/sendmail/cf") }

// Milter is one INPUT_MAIL_FILTER line.
type Milter struct {
	Name string
	// Socket is the milter's address as spoofguard's milter.listen and
	// Postfix write it ("inet:127.0.0.1:8891", "unix:/path"); the
	// harness turns it into Sendmail's syntax.
	Socket string
	// Flags is the F= equate; default "T" (tempfail while the milter is
	// unreachable).
	Flags string
	// Timeouts is the T= equate; default "C:30s;S:30s;R:30s;E:5m".
	Timeouts string
}

// Equate renders the milter's equates as sendmail.mc wants them, e.g.
// "S=inet:8891@127.0.0.1, F=T, T=C:30s;S:30s;R:30s;E:5m".
func (m Milter) Equate() (string, error) {
	s, err := Socket(m.Socket)
	if err != nil {
		return "", err
	}
	flags, timeouts := m.Flags, m.Timeouts
	if flags == "" {
		flags = "T"
	}
	if timeouts == "" {
		timeouts = "C:30s;S:30s;R:30s;E:5m"
	}
	return "S=" + s + ", F=" + flags + ", T=" + timeouts, nil
}

// Socket turns a milter address in Postfix's syntax into Sendmail's:
// "inet:127.0.0.1:8891" → "inet:8891@127.0.0.1", "unix:/p" → "local:/p".
func Socket(addr string) (string, error) {
	network, a, err := postfix.SplitMilterAddr(addr)
	if err != nil {
		return "", err
	}
	if network == "unix" {
		return "local:" + a, nil
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return "", fmt.Errorf("milter address %q: %v", addr, err)
	}
	return "inet:" + port + "@" + host, nil
}

// Config describes a private Sendmail instance.
type Config struct {
	// Hostname is $j, the name in the banner and in Sendmail's own
	// Received header. Default "mx.example.org".
	Hostname string
	// Domains are relayed to and delivered into one Maildir each.
	Domains []string
	Milters []Milter
	// Extra are further sendmail.mc lines, e.g. define(...) of options.
	Extra []string
}

// Instance is a running private Sendmail.
type Instance struct {
	// Dir holds everything of the instance: sendmail.mc and .cf, the
	// queue (mqueue/), the Maildirs (mail/) and the traffic log.
	Dir      string
	QueueDir string
	MailDir  string
	// Traffic is the SMTP traffic log (sendmail -X).
	Traffic string
	// Addr is the "127.0.0.1:port" the daemon listens on.
	Addr string

	cfg  Config
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start writes the configuration of a new instance, builds sendmail.cf,
// starts the daemon and waits until it greets. The instance is stopped
// and its folder removed when the test ends; if the test failed, the
// traffic log is written to the test log first.
func Start(t testing.TB, cfg Config) *Instance {
	t.Helper()
	if cfg.Hostname == "" {
		cfg.Hostname = "mx.example.org"
	}
	s, err := newInstance(cfg)
	if err != nil {
		t.Fatalf("sendmail: %v", err)
	}
	postfix.CleanupMTA(t, "sendmail traffic ("+s.Traffic+")", s.Log, s.stop, s.Dir)
	if err := s.start(); err != nil {
		t.Fatalf("sendmail: %v", err)
	}
	if err := postfix.WaitBanner(s.Addr, 20*time.Second); err != nil {
		t.Fatalf("sendmail on %s: %v", s.Addr, err)
	}
	return s
}

// newInstance lays out the folder and writes every file of the instance.
func newInstance(cfg Config) (*Instance, error) {
	if _, err := os.Stat(Binary()); err != nil {
		return nil, fmt.Errorf("%v (run test/sendmail/install.sh)", err)
	}
	dir, err := os.MkdirTemp("", "spoofguard-sendmail-")
	if err != nil {
		return nil, err
	}
	port, err := postfix.FreePort()
	if err != nil {
		return nil, err
	}
	s := &Instance{
		Dir:      dir,
		QueueDir: filepath.Join(dir, "mqueue"),
		MailDir:  filepath.Join(dir, "mail"),
		Traffic:  filepath.Join(dir, "traffic"),
		Addr:     net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		cfg:      cfg,
		done:     make(chan struct{}),
	}
	if err := s.writeFiles(); err != nil {
		return nil, err
	}
	return s, s.buildCF()
}

// writeFiles writes sendmail.mc and the files it names. Sendmail wants
// its queue folder private to its user.
func (s *Instance) writeFiles() error {
	if err := os.Mkdir(s.QueueDir, 0o700); err != nil {
		return err
	}
	if err := os.Mkdir(s.MailDir, 0o755); err != nil {
		return err
	}
	host, _ := os.Hostname()
	files := map[string]string{
		"deliver":        deliverScript(s.MailDir),
		"hosts":          "127.0.0.1\t" + s.cfg.Hostname + " localhost " + host + "\n",
		"service.switch": "hosts\tfiles\naliases\tfiles\n",
		"nsswitch.conf":  "hosts: files\n",
		"resolv.conf":    "nameserver 127.0.0.1\noptions attempts:1 timeout:1\n",
		"aliases":        "",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(s.Dir, name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(s.Dir, "deliver"), 0o755); err != nil {
		return err
	}
	return s.writeMC()
}

// deliverScript is the program mailer: it writes the message on its
// standard input into base/DOMAIN as a Maildir does (tmp, then new). The
// recipient the mailer was given ends the file name, so tests can see
// where an address was rewritten to.
func deliverScript(base string) string {
	return `#!/bin/sh
# Program mailer of a spoofguard e2e Sendmail: deliver DOMAIN USER < message
set -e
d='` + base + `'/"$1"
mkdir -p "$d/tmp" "$d/new" "$d/cur"
f="$(date +%s.%N).$$.$2"
cat >"$d/tmp/$f"
mv "$d/tmp/$f" "$d/new/$f"
`
}

type milterLine struct{ Name, Equate string }

func (s *Instance) writeMC() error {
	var milters []milterLine
	for _, m := range s.cfg.Milters {
		eq, err := m.Equate()
		if err != nil {
			return err
		}
		milters = append(milters, milterLine{m.Name, eq})
	}
	host, port, _ := net.SplitHostPort(s.Addr)
	vars := map[string]any{
		"Hostname": s.cfg.Hostname, "Dir": s.Dir, "QueueDir": s.QueueDir, "Host": host, "Port": port,
		"Domains": s.cfg.Domains, "Milters": milters, "Extra": s.cfg.Extra,
	}
	tmpl, err := template.New("sendmail.mc.tmpl").Funcs(template.FuncMap{"join": strings.Join}).
		ParseFS(templates, "templates/sendmail.mc.tmpl")
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, vars); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.Dir, "sendmail.mc"), b.Bytes(), 0o644)
}

// buildCF runs m4 over sendmail.mc, as "make -C /etc/mail" does.
func (s *Instance) buildCF() error {
	cmd := exec.Command("m4", "-D_CF_DIR_="+cfDir()+"/", filepath.Join(cfDir(), "m4/cf.m4"), "sendmail.mc")
	cmd.Dir = s.Dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		return fmt.Errorf("m4 sendmail.mc: %v %s", err, stderr.String())
	}
	return os.WriteFile(s.CF(), out, 0o644)
}

// CF is the instance's sendmail.cf.
func (s *Instance) CF() string { return filepath.Join(s.Dir, "sendmail.cf") }

// Command runs the unpacked sendmail with the instance's sendmail.cf in
// the instance's own view of /etc (hosts, nsswitch.conf, resolv.conf),
// so that neither the daemon nor a command like mailq asks the real DNS.
func (s *Instance) Command(args ...string) *exec.Cmd {
	script := `mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/nsswitch.conf &&
mount --bind "$3" /etc/resolv.conf && shift 3 && exec "$@"`
	argv := []string{"--mount", "--", "/bin/sh", "-c", script, "sh",
		filepath.Join(s.Dir, "hosts"), filepath.Join(s.Dir, "nsswitch.conf"), filepath.Join(s.Dir, "resolv.conf"),
		Binary(), "-C", s.CF()}
	return exec.Command("unshare", append(argv, args...)...)
}

// start runs the daemon in the foreground (-bD) in a process group of
// its own, with the SMTP traffic logged (-X).
func (s *Instance) start() error {
	s.cmd = s.Command("-bD", "-X", s.Traffic)
	var out bytes.Buffer
	s.cmd.Stdout, s.cmd.Stderr = &out, &out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return err
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	if !postfix.Poll(20*time.Second, func() bool { return s.listening() || !s.running() }) || !s.running() {
		return fmt.Errorf("daemon did not start: %v\n%s", s.err, out.String())
	}
	return nil
}

func (s *Instance) listening() bool {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

func (s *Instance) running() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM to the daemon and waits for it; the children it
// forked for sessions and deliveries go with the process group.
func (s *Instance) stop() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	pgid := s.cmd.Process.Pid
	defer syscall.Kill(-pgid, syscall.SIGKILL)
	syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-s.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("daemon %d still running 10s after SIGTERM; killed", pgid)
	}
}

// Log is the SMTP traffic log so far.
func (s *Instance) Log() string {
	b, _ := os.ReadFile(s.Traffic)
	return string(b)
}
