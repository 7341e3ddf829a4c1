package postfix

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FreePort returns a TCP port of 127.0.0.1 that was free a moment ago.
// The port is released before it is returned, so the server meant to
// listen there binds it later. Two things could take it in between, and
// both are ruled out: another FreePort call of this process (each port is
// handed out once), and the local port of an outgoing connection (the
// ports come from below Linux's ephemeral range, 32768-60999 by default,
// which the kernel also uses for port 0). Either would make the server
// fail to bind, and a test talk to another test's server.
func FreePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 2000 {
		p := portsLow + rand.IntN(portsHigh-portsLow)
		if portsGiven[p] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		ln.Close()
		portsGiven[p] = true
		return p, nil
	}
	return 0, fmt.Errorf("no free TCP port of 127.0.0.1 in %d-%d", portsLow, portsHigh-1)
}

// The range FreePort takes ports from, and the ports it has handed out.
const portsLow, portsHigh = 20000, 32000

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

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
