package milter

import (
	"bytes"
	"fmt"
	"net"
)

// maxPacket bounds the length a milter packet may claim (the 4-byte
// length prefix: command byte plus data). go-milter allocates whatever
// the prefix says before the data arrives, so without a bound four bytes
// reserve up to 512 MiB. What an MTA really sends is much smaller:
//   - body chunks: at most 65535 bytes (MILTER_CHUNK_SIZE in Postfix and
//     Sendmail; the daemon never negotiates the larger SMFIP_MDS_* sizes);
//   - one header field: Postfix cuts a header at header_size_limit
//     (102400 bytes by default) before milters see it, Sendmail limits
//     the whole header block (MaxHeadersLength, 32 KiB as shipped);
//   - macros, MAIL/RCPT with their ESMTP arguments, an unknown SMTP
//     command: a line of at most a few KiB (line_length_limit 2048).
//
// 256 KiB holds the longest header Postfix passes by default with room for
// an administrator who raised header_size_limit. Only a header packet may
// be that long; every other command is bounded by maxOtherPacket once its
// command byte is in. Together with maxHeaderBlock this keeps the worst
// case, every session holding its header block and a packet in flight,
// small (see defaultMaxSessions).
const maxPacket = 256 << 10

// maxOtherPacket bounds every packet but a header: a body chunk of 65535
// bytes and its command byte.
const maxOtherPacket = 64 << 10

// maxHeaderBlock bounds the header fields of one message (names and
// values as the MTA sends them). The daemon keeps them until the end of
// the message, and Postfix sets no limit on the block as a whole (only
// on each field), so without a bound one message with megabytes of
// headers from the Internet costs megabytes per session. 256 KiB is
// eight times Sendmail's default limit on the whole block.
const maxHeaderBlock = 256 << 10

// malformedError is the daemon refusing a connection for its framing.
// It unwraps to net.ErrClosed: the connection is about to be closed, and
// go-milter then ends the session without a warning of its own (the
// daemon logs the reason once, with the peer).
type malformedError struct{ reason string }

func (e *malformedError) Error() string { return "malformed milter packet: " + e.reason }
func (e *malformedError) Unwrap() error { return net.ErrClosed }

func malformed(format string, args ...any) error {
	return &malformedError{fmt.Sprintf(format, args...)}
}

// framer follows the milter framing (RFC-less, libmilter's: a 4-byte
// big-endian length, then that many bytes starting with the command code)
// over the bytes read from the MTA, and checks each packet's minimal
// shape before go-milter decodes it. go-milter v0.10.2 indexes and
// slices packet data without bounds checks in places, outside any
// recover the daemon has:
//   - ReadPacket takes data[0] of a packet of length 0;
//   - CONNECT slices past the host name's NUL and takes the family byte
//     after it, so it needs a NUL with at least one byte behind it;
//   - MAIL and RCPT slice past the address's NUL, so they need one.
//
// Every other command is decoded with length checks of its own (OPTNEG
// ≥ 12 bytes, HEADER ≥ 2, MACRO ≥ 1, the rest reads no data or reads it
// as a C string without slicing).
type framer struct {
	left    int    // data bytes of the current packet still to come (after the command byte)
	lenHave int    // bytes of the length prefix seen; 4: the command byte comes next
	length  uint32 // the length prefix so far
	cmd     byte   // command code of the current (or last) packet
	seen    int    // data bytes of the current packet seen so far
	nul     int    // position of the first NUL in the data; -1: none yet
	headers int    // bytes of header packets in the current message
	err     error  // the first problem found; sticky
}

// follow advances the framing over b and returns the first problem of
// the stream, if there is one in b or was one before.
func (f *framer) follow(b []byte) error {
	for len(b) > 0 && f.err == nil {
		switch {
		case f.lenHave < 4:
			f.length = f.length<<8 | uint32(b[0])
			f.lenHave++
			b = b[1:]
			if f.lenHave == 4 {
				f.err = checkLength(f.length)
			}
		case f.lenHave == 4:
			f.startPacket(b[0])
			b = b[1:]
		default:
			k := min(f.left, len(b))
			f.data(b[:k])
			b = b[k:]
		}
	}
	return f.err
}

// checkLength refuses an empty packet (go-milter reads its command byte
// from an empty slice) and one longer than maxPacket, before go-milter
// sees the prefix and allocates.
func checkLength(n uint32) error {
	if n == 0 {
		return malformed("empty packet")
	}
	if n > maxPacket {
		return malformed("packet of %d bytes claimed, more than the %d an MTA sends", n, maxPacket)
	}
	return nil
}

// startPacket takes the command byte of a packet whose length is known.
func (f *framer) startPacket(cmd byte) {
	f.cmd, f.seen, f.nul = cmd, 0, -1
	f.left = int(f.length) - 1
	f.lenHave, f.length = 5, 0
	if !knownCommand(cmd) {
		f.err = malformed("unknown command %q", cmd)
		return
	}
	if cmd != 'L' && f.left+1 > maxOtherPacket {
		f.err = malformed("%q packet of %d bytes claimed, more than the %d an MTA sends", cmd, f.left+1, maxOtherPacket)
		return
	}
	switch cmd {
	case 'M', 'A', 'K': // a new message, an aborted one, a new SMTP session
		f.headers = 0
	case 'L':
		f.headers += f.left + 1
		if f.headers > maxHeaderBlock {
			f.err = malformed("header block of the message longer than %d bytes", maxHeaderBlock)
			return
		}
	}
	f.endIfComplete()
}

// data takes the next bytes of the current packet's data.
func (f *framer) data(b []byte) {
	if f.nul < 0 {
		if i := bytes.IndexByte(b, 0); i >= 0 {
			f.nul = f.seen + i
		}
	}
	f.seen += len(b)
	f.left -= len(b)
	f.endIfComplete()
}

// endIfComplete checks a packet once all its data is seen and gets ready
// for the next length prefix.
func (f *framer) endIfComplete() {
	if f.left > 0 {
		return
	}
	f.err = checkShape(f.cmd, f.seen, f.nul)
	f.lenHave = 0
}

// knownCommand: the commands an MTA sends (SMFIC_*, protocol version 6).
func knownCommand(c byte) bool {
	switch c {
	case 'O', 'D', 'C', 'Q', 'H', 'M', 'R', 'L', 'N', 'B', 'E', 'A', 'T', 'K', 'U':
		return true
	}
	return false
}

// checkShape checks what go-milter needs of a whole packet's data (size
// n, first NUL at nul or -1) to decode it without indexing out of range.
func checkShape(cmd byte, n, nul int) error {
	switch cmd {
	case 'C': // host name NUL, family, [port, address NUL]
		if nul < 0 || nul+1 >= n {
			return malformed("CONNECT without a NUL-terminated host name and a family")
		}
	case 'M', 'R': // address NUL [ESMTP arguments]
		if nul < 0 {
			return malformed("%s without a NUL-terminated address", commandName(cmd))
		}
	}
	return nil
}

func commandName(cmd byte) string {
	if cmd == 'M' {
		return "MAIL"
	}
	return "RCPT"
}

// replyFollows reports whether the bytes followed so far end with a whole
// packet that the daemon answers: option negotiation, MAIL FROM, RCPT TO,
// end of headers, end of body. Connect, HELO, header and body events get
// no reply (wantedProtocol), macros and abort never do.
func (f *framer) replyFollows() bool {
	if f.lenHave != 0 || f.err != nil {
		return false
	}
	switch f.cmd {
	case 'O', 'M', 'R', 'N', 'E':
		return true
	}
	return false
}
