package milter

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ParseListen splits a listen address in Postfix's milter syntax —
// "inet:host:port", "inet6:[addr]:port", "unix:/path" or "local:/path" —
// into a network and an address for net.Listen.
func ParseListen(s string) (network, address string, err error) {
	kind, rest, ok := strings.Cut(s, ":")
	if !ok || rest == "" {
		return "", "", fmt.Errorf("listen address %q: want inet:host:port or unix:/path", s)
	}
	switch kind {
	case "inet", "inet6":
		host, port, err := net.SplitHostPort(rest)
		if err != nil {
			return "", "", fmt.Errorf("listen address %q: %v", s, err)
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return "", "", fmt.Errorf("listen address %q: bad port %q", s, port)
		}
		network = "tcp4"
		if kind == "inet6" || strings.Contains(host, ":") {
			network = "tcp6"
		}
		return network, net.JoinHostPort(host, port), nil
	case "unix", "local":
		if !strings.HasPrefix(rest, "/") {
			return "", "", fmt.Errorf("listen address %q: the socket path must be absolute", s)
		}
		return "unix", rest, nil
	}
	return "", "", fmt.Errorf("listen address %q: unknown kind %q (want inet, inet6 or unix)", s, kind)
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
		ln, err := net.Listen(network, address)
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
// TCP connections also get TCP_NODELAY and re-arm TCP_QUICKACK after
// every read from the socket: without it, a reply written right after a
// read can wait ~40 ms for the MTA's delayed ACK (go-libraries.md §11).
type bufferedListener struct{ net.Listener }

func (l bufferedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	bc := &bufferedConn{Conn: c}
	var src io.Reader = c
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
		if raw, err := tc.SyscallConn(); err == nil {
			src = quickAckReader{tc, raw}
		}
	}
	bc.r = bufio.NewReaderSize(src, 8<<10)
	return bc, nil
}

type bufferedConn struct {
	net.Conn
	r *bufio.Reader

	mu      sync.Mutex
	pending []byte // replies not yet sent
}

func (c *bufferedConn) Read(p []byte) (int, error) {
	if err := c.flush(); err != nil {
		return 0, err
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

func (c *bufferedConn) Close() error {
	c.flush()
	return c.Conn.Close()
}

func (c *bufferedConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushLocked()
}

// flushLocked sends the pending replies, bounded in time like go-milter's
// own writes.
func (c *bufferedConn) flushLocked() error {
	if len(c.pending) == 0 {
		return nil
	}
	c.Conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Conn.Write(c.pending)
	c.Conn.SetWriteDeadline(time.Time{})
	c.pending = c.pending[:0]
	return err
}

type quickAckReader struct {
	c   *net.TCPConn
	raw syscall.RawConn
}

func (q quickAckReader) Read(p []byte) (int, error) {
	n, err := q.c.Read(p)
	q.raw.Control(func(fd uintptr) {
		unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
	})
	return n, err
}
