package milter

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"

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
		return quickAckListener{ln}, nil
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

// quickAckListener hands out TCP connections that re-arm TCP_QUICKACK
// after every read. Without it, a milter reply written right after a read
// can wait ~40 ms for the MTA's delayed ACK (Nagle on the MTA side meets
// delayed ACK on ours); over loopback that stall dominated end-of-data.
type quickAckListener struct{ net.Listener }

func (l quickAckListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c, nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return c, nil
	}
	tc.SetNoDelay(true)
	return &quickAckConn{TCPConn: tc, raw: raw}, nil
}

type quickAckConn struct {
	*net.TCPConn
	raw syscall.RawConn
}

func (c *quickAckConn) Read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	c.raw.Control(func(fd uintptr) {
		unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
	})
	return n, err
}
