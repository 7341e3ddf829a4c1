package milter

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spoofguard/spoofguard/policy"
)

// ParseListen splits a listen address — Postfix's "inet:host:port",
// "inet6:[addr]:port", "unix:/path", or libmilter's "inet:port@host",
// "local:/path" — into a network and an address for net.Listen. The
// grammar is the configuration's (policy.ParseListen), so that an address
// `config check` accepts is one the daemon can listen on.
func ParseListen(s string) (network, address string, err error) {
	l, err := policy.ParseListen(s)
	return l.Network, l.Address, err
}

// Listen opens the milter socket. A unix socket left behind by a previous
// run is removed first, and the new one gets a mode (and group) Postfix
// can connect through: smtpd needs write permission on it.
func Listen(addr, mode, group string) (net.Listener, error) {
	network, address, err := ParseListen(addr)
	if err != nil {
		return nil, err
	}
	if network != "unix" {
		// No TCP keep-alive: the read timeout already finds a vanished
		// MTA, and keep-alive costs four setsockopt calls per connection
		// (one per message, as Postfix connects per SMTP session).
		lc := net.ListenConfig{KeepAlive: -1}
		ln, err := lc.Listen(context.Background(), network, address)
		if err != nil {
			return nil, err
		}
		return bufferedListener{ln}, nil
	}
	if err := removeStaleSocket(address); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", address)
	if err != nil {
		return nil, err
	}
	if err := setSocketAccess(address, mode, group); err != nil {
		ln.Close()
		return nil, err
	}
	return bufferedListener{ln}, nil
}

// removeStaleSocket deletes a socket file nobody listens on any more; a
// regular file at that path is left alone and reported.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket; not removing it", path)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return fmt.Errorf("%s: another process is listening on this socket", path)
	}
	return os.Remove(path)
}

func setSocketAccess(path, mode, group string) error {
	if mode == "" {
		mode = "0660"
	}
	m, err := strconv.ParseUint(mode, 8, 32)
	if err != nil {
		return fmt.Errorf("socket mode %q: %v", mode, err)
	}
	if err := os.Chmod(path, os.FileMode(m)); err != nil {
		return err
	}
	if group == "" {
		return nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return fmt.Errorf("socket group: %v", err)
	}
	gid, _ := strconv.Atoi(g.Gid)
	return os.Chown(path, -1, gid)
}

// bufferedListener hands out connections that batch the milter protocol's
// small reads and writes. go-milter reads each packet with two reads
// (length, then data) and writes each reply with two writes; a message
// is some twenty packets each way, so unbuffered the system calls cost
// more than the checks. Reads go through a small buffer — the MTA sends
// header packets back to back when it expects no reply — and writes wait
// until the daemon next reads, which in this request-reply protocol is
// exactly when a batch of replies is complete.
//
// Deadlines are applied lazily (see bufferedConn.SetReadDeadline), and a
// TCP connection re-arms TCP_QUICKACK after a read that the daemon will
// not answer at once (see quickAckReader): without it, the MTA's next
// packet can wait ~40 ms for our delayed ACK (go-libraries.md §11). Go
// already sets TCP_NODELAY on every TCP connection.
type bufferedListener struct{ net.Listener }

// readBufSize holds a whole message's header packets; body chunks
// (up to 64 KiB) are read straight into go-milter's packet buffer.
const readBufSize = 8 << 10

// readers recycles read buffers: the MTA opens a connection per SMTP
// session, so one per message in the common case.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufSize) }}

func (l bufferedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newBufferedConn(c), nil
}

func newBufferedConn(c net.Conn) *bufferedConn {
	bc := &bufferedConn{Conn: c}
	var src io.Reader = deadlineReader{bc}
	if tc, ok := c.(*net.TCPConn); ok {
		if raw, err := tc.SyscallConn(); err == nil {
			src = &quickAckReader{r: src, raw: raw}
		}
	}
	bc.r = readers.Get().(*bufio.Reader)
	bc.r.Reset(src)
	return bc
}

type bufferedConn struct {
	net.Conn

	readMu sync.Mutex    // held by Read; Close takes it to recycle r
	r      *bufio.Reader // nil once closed
	// readDeadline is what go-milter asked for; applied is what the
	// socket has. Only the session's goroutine touches them (in
	// SetReadDeadline and, through Read, in deadlineReader).
	readDeadline, applied time.Time

	mu            sync.Mutex
	pending       []byte    // replies not yet sent
	writeDeadline time.Time // on the socket; kept between flushes
}

func (c *bufferedConn) Read(p []byte) (int, error) {
	if err := c.flush(); err != nil {
		return 0, err
	}
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.r == nil {
		return 0, net.ErrClosed
	}
	return c.r.Read(p)
}

func (c *bufferedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending = append(c.pending, p...)
	if len(c.pending) >= 64<<10 {
		return len(p), c.flushLocked()
	}
	return len(p), nil
}

// Close sends what is pending and closes the socket, which ends a Read in
// progress in another goroutine; then the read buffer is recycled.
func (c *bufferedConn) Close() error {
	c.flush()
	err := c.Conn.Close()
	c.readMu.Lock()
	if c.r != nil {
		c.r.Reset(nil)
		readers.Put(c.r)
		c.r = nil
	}
	c.readMu.Unlock()
	return err
}

// SetReadDeadline records the deadline; it reaches the socket only when a
// read has to wait for the network (deadlineReader). go-milter sets a
// deadline before every packet and clears it after, most packets come
// out of the read buffer, and each change of a socket's deadline costs
// timer work in the runtime.
func (c *bufferedConn) SetReadDeadline(t time.Time) error {
	c.readDeadline = t
	return nil
}

// SetWriteDeadline does nothing: writes only happen in flushLocked,
// which bounds them itself.
func (c *bufferedConn) SetWriteDeadline(time.Time) error { return nil }

func (c *bufferedConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

// deadlineSlack: a socket deadline at most this much earlier than the one
// asked for is kept rather than moved. go-milter asks for its read
// timeout (minutes) from now before every packet, so without it every
// read from the network would move the timer.
const deadlineSlack = time.Second

// deadlineReader reads from the socket under the deadline go-milter set.
type deadlineReader struct{ c *bufferedConn }

func (d deadlineReader) Read(p []byte) (int, error) {
	c := d.c
	want := c.readDeadline
	if !want.Equal(c.applied) {
		keep := !want.IsZero() && !c.applied.IsZero() && !want.Before(c.applied) && want.Sub(c.applied) < deadlineSlack
		if !keep {
			if err := c.Conn.SetReadDeadline(want); err != nil {
				return 0, err
			}
			c.applied = want
		}
	}
	return c.Conn.Read(p)
}

func (c *bufferedConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushLocked()
}

// writeTimeout bounds each flush, like go-milter's own writes.
const writeTimeout = 10 * time.Second

// flushLocked sends the pending replies. The write deadline stays on the
// socket and is moved only when less than half of writeTimeout is left,
// so most flushes leave the runtime's timers alone.
func (c *bufferedConn) flushLocked() error {
	if len(c.pending) == 0 {
		return nil
	}
	if now := time.Now(); c.writeDeadline.Sub(now) < writeTimeout/2 {
		c.writeDeadline = now.Add(writeTimeout)
		c.Conn.SetWriteDeadline(c.writeDeadline)
	}
	_, err := c.Conn.Write(c.pending)
	c.pending = c.pending[:0]
	return err
}

// quickAckReader re-arms TCP_QUICKACK after a read from the socket unless
// the data ends with a command the daemon answers at once — there the
// reply carries the ACK. To know, it follows the protocol's framing: a
// 4-byte length, then that many bytes starting with the command code.
// An MTA that sends events it was told not to expect replies for, or an
// unexpected command, only costs a needless setsockopt.
type quickAckReader struct {
	r   io.Reader
	raw syscall.RawConn

	left    int    // bytes of the current packet still to come; 0: in a length prefix
	lenHave int    // bytes of the length prefix seen
	length  uint32 // the length prefix so far
	atCmd   bool   // the next byte is a command code
	cmd     byte   // command code of the current (or last) packet
}

func (q *quickAckReader) Read(p []byte) (int, error) {
	n, err := q.r.Read(p)
	if n > 0 {
		q.follow(p[:n])
		if !q.replyFollows() {
			q.raw.Control(func(fd uintptr) {
				unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
			})
		}
	}
	return n, err
}

// follow advances the framing over b.
func (q *quickAckReader) follow(b []byte) {
	for len(b) > 0 {
		if q.left == 0 {
			for q.lenHave < 4 && len(b) > 0 {
				q.length = q.length<<8 | uint32(b[0])
				q.lenHave++
				b = b[1:]
			}
			if q.lenHave == 4 {
				q.left, q.lenHave, q.length = int(q.length), 0, 0
				q.atCmd, q.cmd = true, 0
			}
			continue
		}
		if q.atCmd {
			q.cmd, q.atCmd = b[0], false
		}
		k := min(q.left, len(b))
		q.left -= k
		b = b[k:]
	}
}

// replyFollows reports whether the data read so far ends with a whole
// packet that the daemon answers: option negotiation, MAIL FROM, RCPT TO,
// end of headers, end of body. Connect, HELO, header and body events get
// no reply (wantedProtocol), macros and abort never do.
func (q *quickAckReader) replyFollows() bool {
	if q.left != 0 || q.lenHave != 0 {
		return false
	}
	switch q.cmd {
	case 'O', 'M', 'R', 'N', 'E':
		return true
	}
	return false
}
