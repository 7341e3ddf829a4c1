package milter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"
)

// rawMTA talks to the daemon byte by byte, as a hostile local client or a
// broken MTA could.
type rawMTA struct {
	t testing.TB
	c net.Conn
}

func dialRaw(t testing.TB, addr string) *rawMTA {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawMTA{t: t, c: c}
}

func (m *rawMTA) send(b ...[]byte) {
	m.t.Helper()
	if _, err := m.c.Write(bytes.Join(b, nil)); err != nil {
		m.t.Fatalf("write: %v", err)
	}
}

// optNeg is the option negotiation Postfix 3.x sends: protocol version 6,
// every action, every protocol option but the larger data sizes.
var optNeg = packet('O', "\x00\x00\x00\x06\x00\x00\x01\xff\x00\x1f\xff\xff")

// negotiate sends optNeg and reads the daemon's answer.
func (m *rawMTA) negotiate() {
	m.t.Helper()
	m.send(optNeg)
	if cmd, _, err := m.read(5 * time.Second); err != nil || cmd != 'O' {
		m.t.Fatalf("negotiation: %q %v", cmd, err)
	}
}

// read reads one packet from the daemon.
func (m *rawMTA) read(timeout time.Duration) (byte, []byte, error) {
	m.c.SetReadDeadline(time.Now().Add(timeout))
	var hdr [4]byte
	if _, err := io.ReadFull(m.c, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > 1<<20 {
		return 0, nil, errors.New("bad reply length " + strconv.Itoa(int(n)))
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(m.c, data); err != nil {
		return 0, nil, err
	}
	return data[0], data[1:], nil
}

// closedByDaemon reports whether the daemon closed the connection (with
// no reply on the way) within the timeout.
func (m *rawMTA) closedByDaemon(timeout time.Duration) bool {
	m.c.SetReadDeadline(time.Now().Add(timeout))
	_, err := m.c.Read(make([]byte, 1))
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err)
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && strings.Contains(op.Err.Error(), "reset")
}

// lengthOnly is a packet's length prefix and command byte with none of
// the data it claims.
func lengthOnly(n uint32, cmd byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, n), cmd)
}

// The attacks on the framing that used to panic inside go-milter (and so
// end the daemon), and those it would have allocated for: each costs
// its connection alone, with a log line, and the daemon goes on serving.
func TestWireMalformedPackets(t *testing.T) {
	w := newHostileDaemon(t, "", "")
	addr := w.d.Addr().String()
	cases := []struct {
		name       string
		negotiated bool
		bytes      []byte
		log        string
	}{
		{"empty packet first", false, []byte{0, 0, 0, 0}, "empty packet"},
		{"empty packet after negotiation", true, []byte{0, 0, 0, 0}, "empty packet"},
		{"CONNECT with one data byte", true, packet('C', "x"), "CONNECT without"},
		{"CONNECT with a host name and no family", true, packet('C', "host\x00"), "CONNECT without"},
		{"CONNECT that is only a NUL", true, packet('C', "\x00"), "CONNECT without"},
		{"MAIL without a NUL", true, packet('M', "<a@example.org>"), "MAIL without"},
		{"RCPT without a NUL", true, packet('R', "<a@example.org>"), "RCPT without"},
		{"unknown command", true, packet('Z', "data\x00"), "unknown command"},
		{"unknown command first", false, packet('z', ""), "unknown command"},
		{"length of 512 MiB claimed", true, lengthOnly(0x1FFFFFF0, 'B'), "claimed"},
		{"length one over the bound", true, lengthOnly(maxPacket+1, 'L'), "claimed"},
		{"body chunk over the bound", true, lengthOnly(maxOtherPacket+1, 'B'), "claimed"},
		{"header block over the bound", true, bytes.Repeat(packet('L', "X-Big\x00"+strings.Repeat("x", 60000)+"\x00"), 5), "header block"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := dialRaw(t, addr)
			if c.negotiated {
				m.negotiate()
			}
			m.send(c.bytes)
			if !m.closedByDaemon(5 * time.Second) {
				t.Fatal("connection still open")
			}
			if !strings.Contains(w.logs.String(), c.log) {
				t.Errorf("no log line with %q:\n%s", c.log, w.logs.String())
			}
		})
	}
	if r := send(t, addr, "192.0.2.66", "spam.spammer.example", "", "x@spammer.example", []string{"user@edge.example"},
		hostileMsg("x@spammer.example", "Hi.\r\n")); r.summary() != "eom accept" {
		t.Errorf("after the attacks: %s", r.summary())
	}
	if n := strings.Count(w.logs.String(), "MTA connection closed"); n != len(cases) {
		t.Errorf("%d log lines for %d refused connections", n, len(cases))
	}
}

// The shortest packets of each kind that are well formed, and the longest
// the daemon takes, pass the framing: the session goes on and answers
// MAIL FROM.
func TestWireBoundaryPackets(t *testing.T) {
	w := newHostileDaemon(t, "", "")
	long := "X-Long\x00" + strings.Repeat("y", maxPacket-1-len("X-Long\x00")-1) + "\x00"
	for _, c := range []struct {
		name  string
		bytes []byte
	}{
		{"CONNECT with an empty host, unknown family", packet('C', "\x00U")},
		{"CONNECT as Postfix sends it", packet('C', "mail.example\x004\x00\x19192.0.2.66\x00")},
		{"empty HELO-less MAIL", packet('M', "\x00")},
		{"MAIL with ESMTP arguments", packet('M', "<a@example.org>\x00SIZE=10\x00BODY=8BITMIME\x00")},
		{"macro with a code only", packet('D', "C")},
		{"a header of the longest packet", append(packet('M', "<a@example.org>\x00"), packet('L', long)...)},
		{"unknown SMTP command", packet('U', "")},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := dialRaw(t, w.d.Addr().String())
			m.negotiate()
			m.send(c.bytes, packet('M', "<x@spammer.example>\x00"))
			for {
				cmd, _, err := m.read(5 * time.Second)
				if err != nil {
					t.Fatalf("no answer to MAIL FROM: %v\n%s", err, w.logs.String())
				}
				if cmd != 'p' { // progress
					break
				}
			}
		})
	}
	if strings.Contains(w.logs.String(), "malformed") {
		t.Errorf("a well-formed packet was refused:\n%s", w.logs.String())
	}
}

// vm reads VmSize and VmRSS (kB) of this process.
func vm(t testing.TB) (size, rss int) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(line, ":")
		n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		switch k {
		case "VmSize":
			size = n
		case "VmRSS":
			rss = n
		}
	}
	return size, rss
}

// Connections that each claim a packet of almost 512 MiB reserve nothing:
// go-milter would allocate the claimed length before any data arrives
// (16 such connections took the address space from 1.7 to 10 GB). Each
// is closed with a log line, and the process (daemon and test) does not
// grow.
func TestWireClaimedLengthReservesNothing(t *testing.T) {
	w := newHostileDaemon(t, "", "")
	addr := w.d.Addr().String()
	size0, rss0 := vm(t)
	const n = 32
	conns := make([]*rawMTA, n)
	for i := range conns {
		conns[i] = dialRaw(t, addr)
		conns[i].negotiate()
		conns[i].send(lengthOnly(0x1FFFFFF0, 'L'))
	}
	for i, m := range conns {
		if !m.closedByDaemon(5 * time.Second) {
			t.Fatalf("connection %d still open", i)
		}
	}
	size1, rss1 := vm(t)
	t.Logf("%d connections claiming 0x1FFFFFF0 bytes: VmSize %d → %d kB, VmRSS %d → %d kB", n, size0, size1, rss0, rss1)
	if size1-size0 > 64<<10 || rss1-rss0 > 32<<10 {
		t.Errorf("memory grew: VmSize %d → %d kB, VmRSS %d → %d kB", size0, size1, rss0, rss1)
	}
	if got := strings.Count(w.logs.String(), "claimed"); got != n {
		t.Errorf("%d log lines for %d connections", got, n)
	}
}

// Beyond milter.max_sessions a new connection waits, unanswered, until a
// session ends; then it is served. Postfix bounds the wait by
// milter_connect_timeout and milter_command_timeout (30 s each) and then
// applies milter_default_action (tempfail by default). Closing the
// daemon ends the wait too.
func TestWireMaxSessionsWait(t *testing.T) {
	w := newDaemonWorld(t, "max_sessions = 2")
	addr := w.d.Addr().String()
	first, second := dialRaw(t, addr), dialRaw(t, addr)
	first.negotiate()
	second.negotiate()
	third := dialRaw(t, addr)
	third.send(optNeg)
	if _, _, err := third.read(500 * time.Millisecond); err == nil {
		t.Fatal("a third session was served with max_sessions = 2")
	}
	if !strings.Contains(w.logs.String(), "max_sessions reached") {
		t.Errorf("the wait was not logged:\n%s", w.logs.String())
	}
	first.c.Close()
	if cmd, _, err := third.read(5 * time.Second); err != nil || cmd != 'O' {
		t.Fatalf("the waiting session was not served once a slot was free: %q %v", cmd, err)
	}
	fourth := dialRaw(t, addr)
	fourth.send(optNeg)
	done := make(chan error, 1)
	go func() { done <- w.d.srv.Close() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("closing the daemon hangs while a connection waits for a slot")
	}
}

// A panic in go-milter's own code, outside every callback, ends that
// connection alone: each connection is served under the daemon's own
// recover. The panic is injected where go-milter logs a failed option
// negotiation.
func TestWirePanicInLibraryCostsOneConnection(t *testing.T) {
	w := newHostileDaemon(t, "", "")
	if !sessionFits() {
		t.Fatal("go-milter's session type is not laid out as libSession says")
	}
	logWarning := gomilter.LogWarning
	gomilter.LogWarning = func(string, ...any) { panic("injected fault in go-milter") }
	defer func() { gomilter.LogWarning = logWarning }()
	m := dialRaw(t, w.d.Addr().String())
	m.send(packet('O', "\x00\x00\x00\x01\x00\x00\x01\xff\x00\x1f\xff\xff")) // version 1: refused
	if !m.closedByDaemon(5 * time.Second) {
		t.Fatal("connection still open")
	}
	// The MTA sees the connection closed by go-milter's own deferred
	// close, a moment before the recover logs. Reading the log (a locked
	// buffer) after the recover wrote it also orders the restore below
	// after go-milter's last read of LogWarning.
	logged := func() bool {
		logs := w.logs.String()
		return strings.Contains(logs, "injected fault in go-milter") && strings.Contains(logs, "goroutine")
	}
	for deadline := time.Now().Add(5 * time.Second); !logged() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if !logged() {
		t.Fatalf("panic not logged with its stack:\n%s", w.logs.String())
	}
	gomilter.LogWarning = logWarning
	if r := send(t, w.d.Addr().String(), "192.0.2.66", "spam.spammer.example", "", "x@spammer.example", []string{"user@edge.example"},
		hostileMsg("x@spammer.example", "Hi.\r\n")); r.summary() != "eom accept" {
		t.Errorf("after the panic: %s", r.summary())
	}
}
