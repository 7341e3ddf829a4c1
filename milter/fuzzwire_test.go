package milter

import (
	"bytes"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"
)

// FuzzWire feeds each input, as the bytes an MTA sends on one milter
// connection, to the real daemon over its socket: listener, framing
// check, go-milter's decoding, the session and the engine. Whatever the
// bytes, the daemon must not die (a panic anywhere ends the fuzz run),
// must end the connection once the input is over, and must go on
// serving. The seeds are whole conversations as Postfix has them (option
// negotiation, macros, connect, HELO, MAIL, RCPT, headers, body, end of
// body, quit) for each hostile message, and the attacks on the framing.
func FuzzWire(f *testing.F) {
	w := newHostileDaemon(f, "", "")
	sock := unixDaemon(f, w)
	for _, seed := range wireSeeds(f, w) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 1<<20 {
			return
		}
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go func() {
			c.Write(in)
			c.(*net.UnixConn).CloseWrite()
		}()
		// The daemon answers what it answers; once the input is over it
		// must close the connection.
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil && !isReset(err) {
			t.Fatalf("connection not closed after the input ended: %v", err)
		}
	})
}

// unixDaemon runs a second daemon on w's configuration, listening on a
// unix socket: the fuzzer opens thousands of connections a second, which
// over loopback TCP would leave as many in TIME_WAIT.
func unixDaemon(tb testing.TB, w *daemonWorld) string {
	sock := filepath.Join(tb.TempDir(), "milter.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		tb.Fatal(err)
	}
	d, err := New(Options{ConfigPath: w.cfgPath, LogOutput: w.logs, Listener: ln})
	if err != nil {
		tb.Fatal(err)
	}
	if err := d.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		d.srv.Close()
		d.current().engine.Close()
	})
	return sock
}

// recordingConn keeps what the MTA side writes.
type recordingConn struct {
	net.Conn
	mu  sync.Mutex
	out bytes.Buffer
}

func (r *recordingConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.out.Write(p)
	r.mu.Unlock()
	return r.Conn.Write(p)
}

type recordingDialer struct{ c *recordingConn }

func (d recordingDialer) Dial(network, addr string) (net.Conn, error) {
	c, err := net.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	d.c.Conn = c
	return d.c, nil
}

// wireSeeds records a whole milter conversation for each hostile message
// and adds the framing attacks of TestWireMalformedPackets.
func wireSeeds(tb testing.TB, w *daemonWorld) [][]byte {
	var seeds [][]byte
	for _, h := range hostileMessages(tb, w) {
		if len(h.msg) > maxFuzzMessage {
			continue
		}
		rec := &recordingConn{}
		macros := gomilter.NewMacroBag()
		macros.Set(gomilter.MacroMTAFQDN, "mx.example.org")
		macros.Set(gomilter.MacroDaemonName, "smtpd")
		macros.Set(gomilter.MacroMTAVersion, "Postfix 3.7.11")
		s, err := gomilter.NewClient("tcp", w.d.Addr().String(), gomilter.WithDialer(recordingDialer{rec}),
			gomilter.WithReadTimeout(15*time.Second)).Session(macros)
		if err != nil {
			tb.Fatal(err)
		}
		c := fuzzClients[int(h.client)%len(fuzzClients)]
		fields, body := mtaSplit([]byte(h.msg))
		auth := ""
		if h.client&0x80 != 0 {
			auth = "alice"
		}
		sendParts(tb, s, c.ip, c.helo, auth, h.mailFrom, []string{h.rcpt}, fields, body)
		s.Close()
		rec.mu.Lock()
		seeds = append(seeds, bytes.Clone(rec.out.Bytes()))
		rec.mu.Unlock()
	}
	cat := func(ps ...[]byte) []byte { return bytes.Join(ps, nil) }
	return append(seeds,
		[]byte{0, 0, 0, 0},
		cat(optNeg, []byte{0, 0, 0, 0}),
		cat(optNeg, packet('C', "x")),
		cat(optNeg, packet('C', "host\x00")),
		cat(optNeg, packet('M', "<a@example.org>")),
		cat(optNeg, packet('R', "<a@example.org>")),
		cat(optNeg, lengthOnly(0x1FFFFFF0, 'B')),
		cat(optNeg, packet('C', "h\x006\x00\x19[::1]\x00"), packet('H', "h\x00"), packet('M', "<>\x00"), packet('T', ""), packet('N', ""), packet('E', "")),
	)
}
