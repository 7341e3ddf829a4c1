package arc

import (
	"hash"
	"strings"
)

// field is one header field as the MTA passed it: the name, and the
// value after the colon as written (leading space and folding kept, the
// line breaks CRLF or bare LF).
type field struct {
	name, value string
}

// appendRelaxed appends the relaxed canonical form of a header field
// (RFC 6376 §3.4.2): name lower-cased, value unfolded, runs of white
// space made one space, white space at the ends of the value and around
// the colon removed. The CRLF is not appended.
func appendRelaxed(b []byte, name, value string) []byte {
	name = strings.TrimRight(name, " \t")
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	b = append(b, ':')
	space := false
	started := false
	for i := 0; i < len(value); i++ {
		switch c := value[i]; c {
		case '\r', '\n':
			// unfolding: the line break goes, the white space after it stays
		case ' ', '\t':
			space = started
		default:
			if space {
				b = append(b, ' ')
				space = false
			}
			b = append(b, c)
			started = true
		}
	}
	return b
}

// appendSimple appends the simple canonical form of a header field
// (RFC 6376 §3.4.1): as written, with CRLF for every line break. The
// final CRLF is not appended.
func appendSimple(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, ':')
	for i := 0; i < len(value); i++ {
		c := value[i]
		if c == '\n' && (i == 0 || value[i-1] != '\r') {
			b = append(b, '\r')
		}
		b = append(b, c)
	}
	return b
}

// appendCanon appends a field in the canonical form chosen.
func appendCanon(b []byte, simple bool, name, value string) []byte {
	if simple {
		return appendSimple(b, name, value)
	}
	return appendRelaxed(b, name, value)
}

// withoutB is the field value with b='s value removed, as the signature
// was computed over it (RFC 6376 §3.7).
func (s *signature) withoutB(value string) string {
	return value[:s.bFrom] + value[s.bTo:]
}

// bodyCanon canonicalizes a body as it streams in (RFC 6376 §3.4.3,
// §3.4.4) and hashes the result. Empty lines are counted, not held, until
// something follows them, so memory stays flat whatever the body.
type bodyCanon struct {
	h       hash.Hash
	simple  bool
	buf     []byte
	cr      bool // the last byte was a CR whose LF has not come yet
	space   bool // relaxed: white space is pending inside a line
	midLine bool // the current line has content
	blank   int  // line breaks held back
	wrote   bool // anything was hashed
}

const bodyBufSize = 4096

var (
	crlf  = []byte("\r\n")
	space = []byte(" ")
)

// write feeds body bytes. A bare LF ends a line as CRLF does (the
// milter may pass either); a bare CR is content.
func (c *bodyCanon) write(p []byte) {
	for i := 0; i < len(p); {
		ch := p[i]
		if c.cr {
			c.cr = false
			if ch == '\n' {
				c.endLine()
				i++
				continue
			}
			c.content([]byte{'\r'})
		}
		switch {
		case ch == '\r':
			c.cr = true
		case ch == '\n':
			c.endLine()
		case (ch == ' ' || ch == '\t') && !c.simple:
			c.space = true
		default:
			j := i + 1
			for j < len(p) && c.plain(p[j]) {
				j++
			}
			c.content(p[i:j])
			i = j
			continue
		}
		i++
	}
}

// plain reports whether a byte is hashed as it is, with nothing held
// before it.
func (c *bodyCanon) plain(ch byte) bool {
	return ch != '\r' && ch != '\n' && (c.simple || ch != ' ' && ch != '\t')
}

// content hashes a run of a line's bytes, after the line breaks and the
// white space held before it.
func (c *bodyCanon) content(run []byte) {
	for ; c.blank > 0; c.blank-- {
		c.emit(crlf)
	}
	if c.space { // leading white space too is one SP (§3.4.4)
		c.emit(space)
		c.space = false
	}
	c.emit(run)
	c.midLine = true
}

// endLine ends a line: trailing white space is dropped (relaxed), the
// line break is held.
func (c *bodyCanon) endLine() {
	c.space = false
	c.midLine = false
	c.blank++
}

// emit hashes b, through a buffer so short runs cost no hash call each.
func (c *bodyCanon) emit(b []byte) {
	c.wrote = true
	if len(b) >= bodyBufSize {
		c.h.Write(c.buf)
		c.h.Write(b)
		c.buf = c.buf[:0]
		return
	}
	c.buf = append(c.buf, b...)
	if len(c.buf) >= bodyBufSize {
		c.h.Write(c.buf)
		c.buf = c.buf[:0]
	}
}

// sum ends the body: trailing empty lines go, the last line gets its
// CRLF, and an empty body is a CRLF in simple and nothing in relaxed.
func (c *bodyCanon) sum() []byte {
	if c.cr {
		c.cr = false
		c.content([]byte{'\r'})
	}
	if c.midLine || c.wrote || c.simple {
		c.emit(crlf)
	}
	c.h.Write(c.buf)
	c.buf = nil
	return c.h.Sum(nil)
}
