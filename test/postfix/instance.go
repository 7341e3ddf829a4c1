package postfix

import (
	"bytes"
	"embed"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"
)

//go:embed templates/*.tmpl
var templates embed.FS

// Config describes a private Postfix instance.
type Config struct {
	// Hostname is myhostname, the name in the banner and in Postfix's own
	// Received header. Default "mx.example.org".
	Hostname string
	// Address is the loopback address smtpd listens on (in master.cf), so
	// a second instance can play another host. inet_interfaces stays
	// 127.0.0.1: Postfix accepts there only addresses configured on an
	// interface, and the loopback interface carries 127.0.0.1 alone.
	// Default "127.0.0.1".
	Address string
	// Domains are the virtual mailbox domains; mail to any address of one
	// of them lands in the Maildir named after the domain.
	Domains []string
	// Milters is the smtpd_milters list, e.g. "inet:127.0.0.1:8891" or
	// "unix:/path/milter.sock". Empty: no milter.
	Milters []string
	// Extra are further main.cf lines ("name = value"), written last so
	// they override the harness's settings.
	Extra []string
	// Files are written into the configuration directory (name → text),
	// e.g. lookup tables that Extra refers to as $config_directory/NAME.
	Files map[string]string
	// Master are further master.cf lines (services such as a content
	// filter's pipe and its reinjection listener).
	Master []string
}

// Instance is a running private Postfix.
type Instance struct {
	// Dir holds everything of the instance: etc/ (main.cf, master.cf),
	// spool/ (queue), data/, mail/ (Maildirs) and maillog.
	Dir       string
	ConfigDir string
	QueueDir  string
	DataDir   string
	MailDir   string
	LogFile   string
	// Addr is the "address:port" smtpd listens on.
	Addr string

	cfg Config
}

// Start writes the configuration of a new instance, starts it and waits
// until smtpd answers. The instance is stopped and its folder removed when
// the test ends; if the test failed, the Postfix log is written to it first.
func Start(t testing.TB, cfg Config) *Instance {
	t.Helper()
	if cfg.Hostname == "" {
		cfg.Hostname = "mx.example.org"
	}
	if cfg.Address == "" {
		cfg.Address = "127.0.0.1"
	}
	p, err := newInstance(cfg)
	if err != nil {
		t.Fatalf("postfix: %v", err)
	}
	CleanupMTA(t, "postfix log ("+p.LogFile+")", p.Log, p.stop, p.Dir)
	if err := p.run("start"); err != nil {
		t.Fatalf("postfix: %v", err)
	}
	if err := waitBanner(p.Addr, 10*time.Second); err != nil {
		t.Fatalf("postfix: smtpd on %s: %v", p.Addr, err)
	}
	return p
}

// CleanupMTA makes the test stop an MTA instance (stop) and remove its
// folder dir when it ends; if the test failed, the instance's log, under
// the given title, goes to the test log first.
func CleanupMTA(t testing.TB, title string, log func() string, stop func() error, dir string) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s:\n%s", title, log())
		}
		if err := stop(); err != nil {
			t.Errorf("%s: %v", filepath.Base(dir), err)
		}
		os.RemoveAll(dir)
	})
}

// newInstance lays out the folders and writes main.cf and master.cf.
func newInstance(cfg Config) (*Instance, error) {
	dir, err := os.MkdirTemp("", "spoofguard-postfix-")
	if err != nil {
		return nil, err
	}
	// Postfix's daemons run as the postfix user and must reach the folder.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	p := &Instance{
		Dir:       dir,
		ConfigDir: filepath.Join(dir, "etc"),
		QueueDir:  filepath.Join(dir, "spool"),
		DataDir:   filepath.Join(dir, "data"),
		MailDir:   filepath.Join(dir, "mail"),
		LogFile:   filepath.Join(dir, "maillog"),
		Addr:      net.JoinHostPort(cfg.Address, strconv.Itoa(port)),
		cfg:       cfg,
	}
	return p, p.writeConfig()
}

// writeConfig creates the folders of the instance and its two
// configuration files. The Maildir base belongs to the postfix user, which
// the virtual delivery agent runs as.
func (p *Instance) writeConfig() error {
	u, err := user.Lookup("postfix")
	if err != nil {
		return fmt.Errorf("the postfix user is missing (run test/e2e/install.sh): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, d := range []string{p.ConfigDir, p.QueueDir, p.DataDir, p.MailDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	for _, d := range []string{p.DataDir, p.MailDir} {
		if err := os.Chown(d, uid, gid); err != nil {
			return err
		}
	}
	vars := map[string]any{
		"ConfigDir": p.ConfigDir, "QueueDir": p.QueueDir, "DataDir": p.DataDir,
		"MailDir": p.MailDir, "LogFile": p.LogFile, "Dir": p.Dir,
		"Hostname": p.cfg.Hostname, "Domains": p.cfg.Domains, "Milters": p.cfg.Milters,
		"Extra": p.cfg.Extra, "UID": uid, "GID": gid, "Listen": p.Addr, "Master": p.cfg.Master,
	}
	for name, text := range p.cfg.Files {
		if err := os.WriteFile(filepath.Join(p.ConfigDir, name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	for _, name := range []string{"main.cf", "master.cf"} {
		if err := writeTemplate(filepath.Join(p.ConfigDir, name), name+".tmpl", vars); err != nil {
			return err
		}
	}
	return nil
}

func writeTemplate(path, name string, vars map[string]any) error {
	tmpl, err := template.New(name).Funcs(template.FuncMap{"join": strings.Join}).
		ParseFS(templates, "templates/"+name)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, vars); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// run runs "postfix -c DIR command". Postfix reports some configuration
// errors only to syslog; the mail log is therefore added to the error.
func (p *Instance) run(command string) error {
	out, err := exec.Command("postfix", "-c", p.ConfigDir, command).CombinedOutput()
	if err != nil {
		return fmt.Errorf("postfix %s: %v\n%s\nmail log:\n%s", command, err, out, p.Log())
	}
	return nil
}

// Reload makes Postfix read its configuration again (after Configure).
func (p *Instance) Reload() error { return p.run("reload") }

// Configure sets main.cf parameters with postconf -e; call Reload after.
func (p *Instance) Configure(settings ...string) error {
	args := append([]string{"-c", p.ConfigDir, "-e"}, settings...)
	if out, err := exec.Command("postconf", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("postconf: %v: %s", err, out)
	}
	return nil
}

// stop stops the instance and waits until its master process is gone, so
// the folder can be removed and the port is free again. It does what
// "postfix stop" does (SIGTERM to the master, which stops its children)
// but polls for the exit every 20 ms instead of sleeping whole seconds.
func (p *Instance) stop() error {
	pid := p.masterPID()
	if pid == 0 {
		return nil
	}
	syscall.Kill(pid, syscall.SIGTERM)
	if !poll(10*time.Second, func() bool { return !alive(pid) }) {
		syscall.Kill(-pid, syscall.SIGKILL)
		return fmt.Errorf("master process %d still running 10s after SIGTERM; killed", pid)
	}
	return nil
}

// masterPID reads the master's pid file; 0 when the instance is not running.
func (p *Instance) masterPID() int {
	b, err := os.ReadFile(filepath.Join(p.QueueDir, "pid", "master.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid <= 0 || !alive(pid) {
		return 0
	}
	return pid
}

// alive reports whether process pid exists and is not a zombie: where
// nothing reaps orphans quickly, a stopped master lingers as one.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

// Log is the instance's mail log so far.
func (p *Instance) Log() string {
	b, _ := os.ReadFile(p.LogFile)
	return string(b)
}

// WaitLog waits until a line of the mail log contains every one of the
// given strings (e.g. a queue id and "milter-hold"), and returns that line.
func (p *Instance) WaitLog(t testing.TB, timeout time.Duration, parts ...string) string {
	t.Helper()
	var line string
	ok := poll(timeout, func() bool {
		line = findLine(p.Log(), parts)
		return line != ""
	})
	if !ok {
		t.Fatalf("postfix: no log line with %q within %v", parts, timeout)
	}
	return line
}

func findLine(log string, parts []string) string {
next:
	for _, line := range strings.Split(log, "\n") {
		for _, part := range parts {
			if !strings.Contains(line, part) {
				continue next
			}
		}
		return line
	}
	return ""
}

// poll calls done every 20 ms until it reports true or timeout passes.
func poll(timeout time.Duration, done func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if done() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
