package postfix

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// This file is the load suite's part of the harness (test/load): Postfix's
// own load generator, smtp-source, and the counters a load run is judged
// by — messages in each queue and Maildir, and the CPU time and memory of
// the processes involved, read from /proc.

// Source is one run of smtp-source(1): Messages messages over Sessions
// parallel SMTP sessions, each message the content of File.
type Source struct {
	Sessions int
	Messages int
	// File is the message, header and body, with LF line ends:
	// smtp-source adds a CRLF to every line and doubles leading dots.
	File string
	// From and To are the envelope sender and recipient; Helo the EHLO name.
	From, To, Helo string
	// KeepOpen sends all of a session's messages over one connection
	// (smtp-source -d); otherwise every message has its own connection,
	// as most Internet mail does.
	KeepOpen bool
	// Client is the loopback address to connect from (127.0.0.X), bound
	// through the shim of BuildBindShim, which must then be given as Shim:
	// smtp-source cannot bind a source address itself. Empty: the system
	// chooses (127.0.0.1).
	Client, Shim string
	// Pause is how long each session waits between its messages
	// (smtp-source -w, whole seconds); with KeepOpen, it holds sessions
	// open so that all of them are open at once.
	Pause time.Duration
}

// SourceResult is what smtp-source saw. Refusals are counted by their
// reply: smtp-source runs with -A, so it logs each one and goes on.
type SourceResult struct {
	Elapsed time.Duration
	CPU     time.Duration // user+system time of smtp-source itself
	// Rejected counts 5xx replies and TempFailed 4xx replies that ended a
	// transaction (to MAIL FROM, RCPT TO, DATA or the final dot).
	Rejected, TempFailed int
	// Refusals are the distinct refusals with their counts, e.g.
	// "end of data rejected: 550 5.7.1 ..." → 3.
	Refusals map[string]int
	Output   string
}

// refusal matches smtp-source's warnings about a refused command.
var refusal = regexp.MustCompile(`warning: (sender|recipient|data|end of data) rejected: ([245])([0-9][0-9]) (.*)`)

// RunSource runs smtp-source against the instance's smtpd and waits for it.
// Every warning other than a counted refusal is an error: smtp-source
// stops on a lost connection or a reply it cannot read.
func (p *Instance) RunSource(ctx context.Context, s Source) (SourceResult, error) {
	args := []string{"-A", "-s", strconv.Itoa(s.Sessions), "-m", strconv.Itoa(s.Messages), "-F", s.File,
		"-f", s.From, "-t", s.To}
	if s.Helo != "" {
		args = append(args, "-M", s.Helo)
	}
	if s.KeepOpen {
		args = append(args, "-d")
	}
	if secs := int(s.Pause.Round(time.Second) / time.Second); secs > 0 {
		args = append(args, "-w", strconv.Itoa(secs))
	}
	args = append(args, "inet:"+p.Addr)
	cmd := exec.CommandContext(ctx, "smtp-source", args...)
	if s.Client != "" {
		if s.Shim == "" {
			return SourceResult{}, errors.New("smtp-source: a client address needs the shim of BuildBindShim")
		}
		cmd.Env = append(os.Environ(), "LD_PRELOAD="+s.Shim, "BIND_SOURCE="+s.Client)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	r := SourceResult{Elapsed: time.Since(start), Output: out.String(), Refusals: map[string]int{}}
	if cmd.ProcessState != nil {
		r.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err != nil {
		return r, fmt.Errorf("smtp-source %s: %v\n%s", strings.Join(args, " "), err, clip(r.Output, 4000))
	}
	var unknown []string
	for _, line := range strings.Split(r.Output, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		m := refusal.FindStringSubmatch(line)
		switch {
		case m == nil:
			unknown = append(unknown, line)
		case m[2] == "5":
			r.Rejected++
		case m[2] == "4":
			r.TempFailed++
		default:
			unknown = append(unknown, line)
		}
		if m != nil {
			r.Refusals[m[1]+" rejected: "+m[2]+m[3]+" "+m[4]]++
		}
	}
	if len(unknown) > 0 {
		return r, fmt.Errorf("smtp-source: unexpected output:\n%s", clip(strings.Join(unknown, "\n"), 4000))
	}
	return r, nil
}

// bindShim is an LD_PRELOAD library that binds every IPv4 socket to the
// address in $BIND_SOURCE just before it connects, so that a program
// without such an option (smtp-source) connects from a chosen loopback
// address. A failed bind is left for connect to report.
const bindShim = `#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
	static int (*next)(int, const struct sockaddr *, socklen_t);
	const char *src = getenv("BIND_SOURCE");
	if (next == NULL)
		next = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
	if (src != NULL && addr != NULL && addr->sa_family == AF_INET) {
		struct sockaddr_in sin;
		memset(&sin, 0, sizeof sin);
		sin.sin_family = AF_INET;
		if (inet_pton(AF_INET, src, &sin.sin_addr) == 1)
			bind(fd, (struct sockaddr *)&sin, sizeof sin);
	}
	return next(fd, addr, len);
}
`

// BuildBindShim compiles the source-address shim for Source.Client into
// dir with the system's C compiler and returns the library's path.
func BuildBindShim(dir string) (string, error) {
	src := filepath.Join(dir, "bindsource.c")
	lib := filepath.Join(dir, "bindsource.so")
	if err := os.WriteFile(src, []byte(bindShim), 0o644); err != nil {
		return "", err
	}
	if out, err := exec.Command("cc", "-shared", "-fPIC", "-O2", "-o", lib, src, "-ldl").CombinedOutput(); err != nil {
		return "", fmt.Errorf("cc bindsource.c: %v\n%s", err, out)
	}
	return lib, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "\n[...]"
}

// QueueCounts returns how many messages sit in each of the instance's
// queues ("maildrop", "incoming", "active", "deferred", "hold"), counted
// from the queue directories themselves.
func (p *Instance) QueueCounts() (map[string]int, error) {
	counts := map[string]int{}
	for _, q := range []string{"maildrop", "incoming", "active", "deferred", "hold"} {
		n, err := countFiles(filepath.Join(p.QueueDir, q))
		if err != nil {
			return nil, err
		}
		counts[q] = n
	}
	return counts, nil
}

// WaitSettled waits until no message is waiting for delivery (only the
// hold queue may hold any), so that a run's counts are final and the next
// run starts on an idle instance.
func (p *Instance) WaitSettled(timeout time.Duration) error {
	var last map[string]int
	var err error
	ok := poll(timeout, func() bool {
		last, err = p.QueueCounts()
		return err != nil || last["maildrop"]+last["incoming"]+last["active"]+last["deferred"] == 0
	})
	switch {
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("postfix: queues not empty after %v: %v", timeout, last)
	case last["deferred"] > 0:
		return fmt.Errorf("postfix: %d messages deferred", last["deferred"])
	}
	return nil
}

// MaildirCounts returns the number of delivered messages in each Maildir,
// by Maildir name (the domain, unless virtual_mailbox_maps says otherwise).
func (p *Instance) MaildirCounts() (map[string]int, error) {
	dirs, err := os.ReadDir(p.MailDir)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		for _, sub := range []string{"new", "cur"} {
			n, err := countFiles(filepath.Join(p.MailDir, d.Name(), sub))
			if err != nil {
				return nil, err
			}
			counts[d.Name()] += n
		}
	}
	return counts, nil
}

// countFiles counts the regular files below dir; a missing dir has none.
func countFiles(dir string) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n, err
}

// CPUTime is the user+system time used so far by the instance: every
// process of the master's session, and through the master's children
// counters every child it has reaped. Differences between two calls are
// the work Postfix did in between, whatever else runs on the machine.
func (p *Instance) CPUTime() (time.Duration, error) {
	master := p.masterPID()
	if master == 0 {
		return 0, errors.New("postfix: master not running")
	}
	ms, err := readStat(master)
	if err != nil {
		return 0, err
	}
	total := ms.children
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range procs {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		s, err := readStat(pid)
		if err != nil || s.session != ms.session {
			continue // gone meanwhile, or not Postfix
		}
		total += s.self
	}
	return total, nil
}

// procStat is what the load suite reads from /proc/PID/stat.
type procStat struct {
	session  int
	self     time.Duration // utime+stime
	children time.Duration // cutime+cstime: reaped children
}

// clockTick is USER_HZ, the unit of /proc/PID/stat times; Linux fixes it
// at 100 on every architecture Go supports.
const clockTick = 10 * time.Millisecond

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// Fields after the command name (in parentheses, may contain spaces):
	// state ppid pgrp session ... utime(14) stime cutime cstime.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	num := func(k int) int64 { v, _ := strconv.ParseInt(f[k], 10, 64); return v }
	// f[0] is field 3 (state), so field n is f[n-3].
	return procStat{
		session:  int(num(6 - 3)),
		self:     time.Duration(num(14-3)+num(15-3)) * clockTick,
		children: time.Duration(num(16-3)+num(17-3)) * clockTick,
	}, nil
}

// ProcCPU is the user+system time process pid has used so far.
func ProcCPU(pid int) (time.Duration, error) {
	s, err := readStat(pid)
	return s.self, err
}

// ProcMemory returns the peak resident set size (VmHWM) and the current
// one (VmRSS) of process pid, in bytes.
func ProcMemory(pid int) (peak, current int64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok || (name != "VmHWM" && name != "VmRSS") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status: %s: %v", pid, line, err)
		}
		if name == "VmHWM" {
			peak = kb << 10
		} else {
			current = kb << 10
		}
	}
	if peak == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status: no VmHWM", pid)
	}
	return peak, current, nil
}

// StartDaemonOutput is StartDaemon with the daemon's log written to out
// instead of being kept in memory: a load run logs a line per message.
func StartDaemonOutput(t testing.TB, bin, config, listen string, out io.Writer) *Daemon {
	t.Helper()
	d := &Daemon{Listen: listen, done: make(chan struct{})}
	d.start(t, bin, config, out)
	if err := d.waitReady(10 * time.Second); err != nil {
		t.Fatalf("spoofguard serve: %v", err)
	}
	return d
}

// PID is the daemon's process id.
func (d *Daemon) PID() int { return d.cmd.Process.Pid }

// Wait waits up to timeout for the daemon to exit on its own (after a
// signal the test sent) and returns its exit status; exited is false when
// it is still running.
func (d *Daemon) Wait(timeout time.Duration) (exited bool, err error) {
	select {
	case <-d.done:
		return true, d.err
	case <-time.After(timeout):
		return false, nil
	}
}

// Terminate sends SIGTERM and reports how long the daemon took to exit
// and its exit status; after limit it gives up waiting (the cleanup of
// StartDaemon then kills it).
func (d *Daemon) Terminate(limit time.Duration) (took time.Duration, exited bool, err error) {
	start := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, false, err
	}
	exited, err = d.Wait(limit)
	return time.Since(start), exited, err
}
