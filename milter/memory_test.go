package milter

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// childDaemonEnv names the configuration a child process started by
// TestWireMemoryBound serves; the child is this test binary.
const childDaemonEnv = "SPOOFGUARD_TEST_CHILD_DAEMON"

func TestMain(m *testing.M) {
	if cfg := os.Getenv(childDaemonEnv); cfg != "" {
		runChildDaemon(cfg)
		return
	}
	os.Exit(m.Run())
}

// runChildDaemon serves cfg until standard input closes, logging to
// standard error.
func runChildDaemon(cfg string) {
	d, err := New(Options{ConfigPath: cfg, LogOutput: os.Stderr})
	if err == nil {
		err = d.Start()
	}
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// startChildDaemon runs the daemon on cfg in a process of its own, so its
// memory can be measured apart from the test's; it returns the pid and
// the milter address.
func startChildDaemon(t *testing.T, cfg string) (int, string) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childDaemonEnv+"="+cfg, "GOMAXPROCS=2")
	stdin, _ := cmd.StdinPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		var line struct{ Msg, Listen string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "spoofguard started" {
			go io.Copy(io.Discard, stderr)
			return cmd.Process.Pid, line.Listen
		}
	}
	t.Fatal("the child daemon did not start")
	return 0, ""
}

// rssOf reads VmRSS (kB) of a process.
func rssOf(t *testing.T, pid int) int {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

// At defaultMaxSessions, with every session in the middle of a message
// — header fields up to the header-block bound stored, and a packet of
// maxOtherPacket bytes sent but its last byte — the daemon stays under 64 MB
// resident: the figure the packaged unit's MemoryMax is derived from.
func TestWireMemoryBound(t *testing.T) {
	if raceEnabled {
		t.Skip("resident memory under the race detector is not the daemon's; make test measures the bound")
	}
	w := newHostileDaemon(t, "", "")
	pid, addr := startChildDaemon(t, w.cfgPath)
	if r := send(t, addr, "192.0.2.66", "spam.spammer.example", "", "x@spammer.example", []string{"user@edge.example"},
		hostileMsg("x@spammer.example", "Hi.\r\n")); r.summary() != "eom accept" {
		t.Fatalf("child daemon: %s", r.summary())
	}
	rss0 := rssOf(t, pid)
	header := packet('L', "X-Filler\x00 "+strings.Repeat("z", 8000)+"\x00")
	bigHeaders := maxHeaderBlock/len(header) - 1
	big := packet('D', "L"+strings.Repeat("y", maxOtherPacket-2)) // a macro packet of the longest size

	for range defaultMaxSessions {
		m := dialRaw(t, addr)
		m.negotiate()
		m.send(packet('C', "mail.spammer.example\x004\x00\x19192.0.2.66\x00"), packet('H', "mail.spammer.example\x00"),
			packet('M', "<x@spammer.example>\x00"))
		m.read(5 * time.Second)
		m.send(packet('R', "<user@edge.example>\x00"))
		m.read(5 * time.Second)
		m.send(packet('T', ""))
		for range bigHeaders {
			m.send(header)
		}
		m.send(big[:len(big)-1])
	}
	time.Sleep(500 * time.Millisecond)
	rss1 := rssOf(t, pid)
	threads, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	t.Logf("%d threads", len(threads))
	t.Logf("%d sessions, each with %d KiB of headers stored and a %d KiB packet in flight: VmRSS %d → %d kB",
		defaultMaxSessions, bigHeaders*len(header)>>10, len(big)>>10, rss0, rss1)
	if rss1 >= 64<<10 {
		t.Errorf("VmRSS %d kB at %d sessions, over 64 MB", rss1, defaultMaxSessions)
	}
}
