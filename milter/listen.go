package milter

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/user"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spoofguard/spoofguard/config"
)

// Listen opens the milter socket as the daemon does (listenSocket, then
// newListener), without the daemon's bound on sessions. A unix socket
// left behind by a previous run is removed first, and the new one gets a
// mode (and group) Postfix can connect through: smtpd needs write
// permission on it. Its connections are buffered and their framing is
// checked, with no bound on their number. The daemon does not call it;
// it is kept for the listener tests and for the load suite's null milter,
// which must run on the daemon's own listener to be a fair yardstick.
func Listen(l config.Listen, mode fs.FileMode, group string) (net.Listener, error) {
	ln, err := listenSocket(l, mode, group)
	if err != nil {
		return nil, err
	}
	return newListener(ln, listenerLimits{}), nil
}

func listenSocket(l config.Listen, mode fs.FileMode, group string) (net.Listener, error) {
	if l.Network != "unix" {
		// No TCP keep-alive: the read timeout already finds a vanished
		// MTA, and keep-alive costs four setsockopt calls per connection
		// (one per message, as Postfix connects per SMTP session).
		lc := net.ListenConfig{KeepAlive: -1}
		return lc.Listen(context.Background(), l.Network, l.Address)
	}
	if err := removeStaleSocket(l.Address); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", l.Address)
	if err != nil {
		return nil, err
	}
	if err := setSocketAccess(l.Address, mode, group); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
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

func setSocketAccess(path string, mode fs.FileMode, group string) error {
	if err := os.Chmod(path, mode); err != nil {
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
// Below the buffer, every byte from the MTA passes the framing check
// (framer) before go-milter sees it, and the number of connections open
// at once is bounded (listenerLimits.maxSessions).
//
// Deadlines are applied lazily (see bufferedConn.SetReadDeadline), and a
// TCP connection re-arms TCP_QUICKACK after a read that the daemon will
// not answer at once (see wireReader): without it, the MTA's next packet
// can wait ~40 ms for our delayed ACK (go-libraries.md §11). Go already
// sets TCP_NODELAY on every TCP connection.
type bufferedListener struct {
	net.Listener
	limits listenerLimits
	slots  chan struct{} // one token per open connection; nil: no bound
	closed chan struct{} // closed by Close: a wait for a slot ends
	once   sync.Once
}

// listenerLimits bound what the MTA's connections may cost, and say whom
// to tell when a bound is hit.
type listenerLimits struct {
	// maxSessions: connections served at once; 0 is no bound. Beyond
	// it, Accept waits for one to end: the MTA's connection stays in the
	// kernel's queue and its option negotiation unanswered, which Postfix
	// bounds by milter_connect_timeout/milter_command_timeout (30 s) and
	// then handles with milter_default_action (tempfail by default).
	maxSessions int
	// full is called when a connection has to wait for a free slot.
	full func(open int)
	// malformed is called once for a connection whose framing was
	// refused; the connection then ends.
	malformed func(peer net.Addr, err error)
}

func newListener(ln net.Listener, limits listenerLimits) *bufferedListener {
	l := &bufferedListener{Listener: ln, limits: limits, closed: make(chan struct{})}
	if limits.maxSessions > 0 {
		l.slots = make(chan struct{}, limits.maxSessions)
	}
	return l
}

// readBufSize holds a whole message's header packets; body chunks
// (up to 64 KiB) are read straight into go-milter's packet buffer.
const readBufSize = 8 << 10

// readers recycles read buffers: the MTA opens a connection per SMTP
// session, so one per message in the common case.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufSize) }}

func (l *bufferedListener) Accept() (net.Conn, error) {
	if err := l.takeSlot(); err != nil {
		return nil, err
	}
	c, err := l.Listener.Accept()
	if err != nil {
		l.releaseSlot()
		return nil, err
	}
	bc := newBufferedConn(c, l.limits.malformed)
	if l.slots != nil {
		bc.release = l.releaseSlot
	}
	return bc, nil
}

// takeSlot waits until fewer than maxSessions connections are open.
func (l *bufferedListener) takeSlot() error {
	if l.slots == nil {
		return nil
	}
	select {
	case l.slots <- struct{}{}:
		return nil
	default:
	}
	if l.limits.full != nil {
		l.limits.full(cap(l.slots))
	}
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-l.closed:
		return net.ErrClosed
	}
}

func (l *bufferedListener) releaseSlot() {
	if l.slots != nil {
		<-l.slots
	}
}

// Close stops accepting, also ending a wait for a free slot (go-milter's
// Shutdown waits for Serve, which may be waiting in Accept).
func (l *bufferedListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

func newBufferedConn(c net.Conn, malformed func(net.Addr, error)) *bufferedConn {
	bc := &bufferedConn{Conn: c}
	w := &wireReader{r: deadlineReader{bc}, malformed: malformed, peer: c.RemoteAddr()}
	if tc, ok := c.(*net.TCPConn); ok {
		if raw, err := tc.SyscallConn(); err == nil {
			w.raw = raw
		}
	}
	bc.r = readers.Get().(*bufio.Reader)
	bc.r.Reset(w)
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

	release func() // frees the connection's slot; called once, by Close
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
		if c.release != nil {
			c.release()
		}
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

// wireReader reads the MTA's bytes from the socket and follows their
// framing (framer): a packet go-milter could not decode safely, or one
// longer than maxPacket, ends the connection before go-milter sees its
// length. On TCP it also re-arms TCP_QUICKACK after a read unless the
// data ends with a command the daemon answers at once — there the reply
// carries the ACK. An MTA that sends events it was told not to expect
// replies for only costs a needless setsockopt.
type wireReader struct {
	r         io.Reader
	raw       syscall.RawConn // nil: not TCP
	f         framer
	peer      net.Addr
	malformed func(net.Addr, error) // told once; may be nil
}

func (w *wireReader) Read(p []byte) (int, error) {
	if w.f.err != nil {
		return 0, w.f.err
	}
	n, err := w.r.Read(p)
	if n > 0 {
		if ferr := w.f.follow(p[:n]); ferr != nil {
			if w.malformed != nil {
				w.malformed(w.peer, ferr)
			}
			return 0, ferr
		}
		if w.raw != nil && !w.f.replyFollows() {
			w.raw.Control(func(fd uintptr) {
				unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
			})
		}
	}
	return n, err
}
