package milter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// packet renders one milter packet: 4-byte length, command, data.
func packet(cmd byte, data string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(1+len(data)))
	return append(append(b, cmd), data...)
}

// TestQuickAckFraming feeds the framing tracker a stream of packets cut
// at every possible point and checks its judgement after each read: a
// reply follows only when the data ends with a whole packet that the
// daemon answers.
func TestQuickAckFraming(t *testing.T) {
	test := func(name string, stream []byte, wantAtEnd bool) {
		t.Helper()
		for cut := 1; cut <= len(stream); cut++ {
			q := &framer{}
			q.follow(stream[:cut])
			q.follow(stream[cut:])
			if got := q.replyFollows(); got != wantAtEnd {
				t.Errorf("%s, read cut at %d of %d: replyFollows %v, want %v", name, cut, len(stream), got, wantAtEnd)
			}
		}
		q := &framer{}
		for i := range stream[:len(stream)-1] { // byte by byte: never at the end
			q.follow(stream[i : i+1])
			if q.replyFollows() && i+1 < len(stream) && !endsPacket(stream[:i+1]) {
				t.Errorf("%s: replyFollows mid-packet after %d bytes", name, i+1)
			}
		}
	}
	cat := func(ps ...[]byte) []byte { return bytes.Join(ps, nil) }
	test("negotiation", packet('O', "\x00\x00\x00\x06\x00\x00\x01\xff\x00\x1f\xff\xff"), true)
	test("macros then MAIL", cat(packet('D', "M{i}\x00ABC\x00"), packet('M', "<a@b.example>\x00")), true)
	test("connect and HELO", cat(packet('D', "Cj\x00mx\x00"), packet('C', "host\x004\x00\x19127.0.0.30\x00"), packet('H', "helo\x00")), false)
	test("headers", cat(packet('L', "From\x00 a@b.example\x00"), packet('L', "To\x00 c@d.example\x00")), false)
	test("headers then end of headers", cat(packet('L', "From\x00 a@b.example\x00"), packet('N', "")), true)
	test("body chunk", packet('B', string(make([]byte, 70000))), false)
	test("body then end of body", cat(packet('B', "hello\r\n"), packet('E', "")), true)
	test("RCPT", packet('R', "<c@d.example>\x00"), true)
	test("abort", packet('A', ""), false)
	test("quit", packet('Q', ""), false)
	test("empty packet", []byte{0, 0, 0, 0}, false)
}

// endsPacket reports whether b is a whole number of packets.
func endsPacket(b []byte) bool {
	for len(b) >= 4 {
		n := int(binary.BigEndian.Uint32(b))
		if len(b) < 4+n {
			return false
		}
		b = b[4+n:]
	}
	return len(b) == 0
}

// pipeConns is a connected TCP pair on loopback: the daemon's side wrapped
// as the listener wraps it, and the MTA's side.
func pipeConns(t *testing.T) (daemon *bufferedConn, mta net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	mta, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := newListener(ln, listenerLimits{}).Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); mta.Close() })
	return c.(*bufferedConn), mta
}

// TestBufferedConnBatchesReplies: replies wait until the daemon reads
// again, then go out in one write; Close sends what is left, recycles the
// read buffer, and later reads fail cleanly.
func TestBufferedConnBatchesReplies(t *testing.T) {
	d, mta := pipeConns(t)
	d.Write(packet('c', ""))
	d.Write(packet('h', "X-A\x00 b\x00"))
	mta.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := mta.Read(make([]byte, 64)); err == nil {
		t.Fatalf("the MTA got %d bytes before the daemon read again", n)
	}
	mta.Write(packet('Q', ""))
	if _, err := io.ReadFull(d, make([]byte, 5)); err != nil {
		t.Fatal(err)
	}
	want := append(packet('c', ""), packet('h', "X-A\x00 b\x00")...)
	got := make([]byte, len(want))
	mta.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(mta, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("MTA got %q, %v; want %q", got, err, want)
	}
	d.Write(packet('a', ""))
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(mta, got[:5]); err != nil || !bytes.Equal(got[:5], packet('a', "")) {
		t.Errorf("reply pending at Close: got %q, %v", got[:5], err)
	}
	if _, err := d.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close: %v, want net.ErrClosed", err)
	}
	d.Close() // a second Close must not recycle the buffer twice
}

// TestBufferedConnDeadlines: a read deadline still ends a read that waits
// for the network, and moving it forward by less than deadlineSlack
// leaves the socket's deadline alone.
func TestBufferedConnDeadlines(t *testing.T) {
	d, mta := pipeConns(t)
	d.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	start := time.Now()
	if _, err := d.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("deadline ended the read only after %v", took)
	}
	far := time.Now().Add(time.Minute)
	d.SetReadDeadline(far)
	mta.Write([]byte("x"))
	if _, err := d.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if !d.applied.Equal(far) {
		t.Fatalf("socket deadline %v, want %v", d.applied, far)
	}
	d.SetReadDeadline(far.Add(deadlineSlack / 2))
	mta.Write([]byte("y"))
	if _, err := d.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if !d.applied.Equal(far) {
		t.Errorf("deadline moved by %v although within the slack", d.applied.Sub(far))
	}
	d.SetReadDeadline(time.Time{})
	mta.Write([]byte("z"))
	if _, err := d.Read(make([]byte, 1)); err != nil || !d.applied.IsZero() {
		t.Errorf("cleared deadline: applied %v, err %v", d.applied, err)
	}
}

// TestQuickAckAvoidsStall plays an MTA that, like Postfix, writes each
// packet as it comes with Nagle's algorithm on: the second of two packets
// that get no reply waits until the first is acknowledged. The daemon's
// side must acknowledge at once instead of after the delayed-ACK timer
// (40 ms on Linux). A plain TCP connection, read the same way, is the
// control that shows the stall this test looks for.
func TestQuickAckAvoidsStall(t *testing.T) {
	const stall = 30 * time.Millisecond
	measure := func(wrap bool) time.Duration {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		mta, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer mta.Close()
		mta.(*net.TCPConn).SetNoDelay(false)
		var d net.Conn
		if wrap {
			d, err = newListener(ln, listenerLimits{}).Accept()
		} else {
			d, err = ln.Accept()
		}
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		best := time.Hour
		buf := make([]byte, 256)
		for range 5 {
			// A reply-less exchange first, so that the daemon's side is in
			// the interactive (delayed-ACK) mode, as after any reply.
			mta.Write(packet('M', "<a@b.example>\x00"))
			io.ReadFull(d, buf[:len(packet('M', "<a@b.example>\x00"))])
			d.Write(packet('c', ""))
			d.Read(buf[:0]) // flushes the buffered reply
			io.ReadFull(mta, buf[:5])
			start := time.Now()
			first, second := packet('L', "From\x00 a@b.example\x00"), packet('L', "To\x00 c@d.example\x00")
			mta.Write(first)
			mta.Write(second)
			io.ReadFull(d, buf[:len(first)+len(second)])
			best = min(best, time.Since(start))
		}
		return best
	}
	plain := measure(false)
	if plain < stall {
		t.Fatalf("the control, a plain connection, shows no delayed-ACK stall (%v): this kernel does not delay ACKs as Linux does, so the test cannot tell", plain)
	}
	if got := measure(true); got >= stall {
		t.Errorf("two reply-less packets took %v to arrive (a plain connection: %v): the delayed-ACK stall is back", got, plain)
	}
}
