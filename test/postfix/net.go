package postfix

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"time"
)

// FreePort returns a TCP port of 127.0.0.1 that was free a moment ago. The
// port is released before it is returned, so another process could take it
// first; on one test machine that race is rare enough.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitBanner waits until an SMTP server on addr greets with 220.
func waitBanner(addr string, timeout time.Duration) error {
	var last error
	ok := poll(timeout, func() bool {
		last = readBanner(addr)
		return last == nil
	})
	if !ok {
		return fmt.Errorf("no 220 banner within %v: %v", timeout, last)
	}
	return nil
}

func readBanner(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "220") {
		return fmt.Errorf("banner %q", strings.TrimSpace(line))
	}
	fmt.Fprint(c, "QUIT\r\n")
	return nil
}

// WaitListening waits until something accepts connections at a milter
// address in Postfix syntax ("inet:127.0.0.1:8891", "unix:/path").
func WaitListening(milter string, timeout time.Duration) error {
	network, addr, err := SplitMilterAddr(milter)
	if err != nil {
		return err
	}
	var last error
	ok := poll(timeout, func() bool {
		var c net.Conn
		c, last = net.DialTimeout(network, addr, time.Second)
		if last == nil {
			c.Close()
		}
		return last == nil
	})
	if !ok {
		return fmt.Errorf("nothing listening at %s within %v: %v", milter, timeout, last)
	}
	return nil
}

// SplitMilterAddr turns a Postfix milter address into a Go network and
// address: "inet:127.0.0.1:8891" → ("tcp", "127.0.0.1:8891"),
// "unix:/run/m.sock" → ("unix", "/run/m.sock").
func SplitMilterAddr(milter string) (network, addr string, err error) {
	kind, rest, ok := strings.Cut(milter, ":")
	switch {
	case ok && kind == "inet" && rest != "":
		return "tcp", rest, nil
	case ok && kind == "unix" && rest != "":
		return "unix", rest, nil
	}
	return "", "", fmt.Errorf("milter address %q: want inet:HOST:PORT or unix:PATH", milter)
}
