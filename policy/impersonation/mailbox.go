package impersonation

import (
	"fmt"
	"io"
	"mime"
	"strings"

	"golang.org/x/text/encoding/htmlindex"
)

// Mailbox is one entry of an address header (From, Reply-To, Sender) as a
// reader's mail client shows it.
type Mailbox struct {
	Name     string   // the display name, quotes removed and RFC 2047 words decoded
	Comments []string // the text of its comments (and of a group's name), decoded
	Address  string   // the addr-spec as written, "" when there is none
}

// Texts returns what a reader sees besides the address: the display name
// and the comments.
func (b Mailbox) Texts() []string {
	out := make([]string, 0, 1+len(b.Comments))
	if b.Name != "" {
		out = append(out, b.Name)
	}
	return append(out, b.Comments...)
}

// Bounds on hostile headers: the text examined and the entries kept.
const (
	maxHeader    = 8 << 10
	maxMailboxes = 64
)

// ParseMailboxes reads an address header's value (RFC 5322 §3.4: a list
// of mailboxes, name-addr or addr-spec, and groups) the way a mail client
// presents it. It is lenient and never fails: whatever is not inside
// angle brackets or a comment counts as display text, so malformed
// headers still show what a reader would read. Encoded words (RFC 2047)
// are decoded everywhere, inside quoted strings too, because common
// clients do so. It is linear in the length of the value.
func ParseMailboxes(value string) []Mailbox {
	if len(value) > maxHeader {
		value = value[:maxHeader]
	}
	p := mailboxParser{}
	for i := 0; i < len(value); i++ {
		i = p.byte(value, i)
	}
	p.finish()
	return p.out
}

// mailboxParser is the state of ParseMailboxes: comment depth, quoting,
// and the parts of the entry being read.
type mailboxParser struct {
	out            []Mailbox
	depth          int
	quoted, angled bool
	hadAngle       bool
	phrase, angle  strings.Builder
	comment        strings.Builder
	comments       []string
}

// byte consumes value[i] and returns the index of the last byte used.
func (p *mailboxParser) byte(value string, i int) int {
	c := value[i]
	switch {
	case c == '\\' && (p.quoted || p.depth > 0) && i+1 < len(value):
		i++
		p.text(value[i])
	case p.quoted:
		p.quoted = c != '"'
		if p.quoted {
			p.text(c)
		}
	case p.depth > 0:
		p.inComment(c)
	case c == '(':
		p.depth = 1
	case c == '"':
		p.quoted = true
	case p.angled:
		p.angled = c != '>'
		if p.angled {
			p.angle.WriteByte(c)
		}
	case c == '<':
		p.angled, p.hadAngle = true, true
		p.angle.Reset()
	case c == ',' || c == ';':
		p.finish()
	case c == ':' && !p.hadAngle:
		// A group's name (RFC 5322 §3.4) is shown like a display name.
		if g := strings.TrimSpace(p.phrase.String()); g != "" {
			p.comments = append(p.comments, g)
		}
		p.phrase.Reset()
	default:
		p.phrase.WriteByte(c)
	}
	return i
}

// text adds a byte of a quoted string or comment to where it belongs.
func (p *mailboxParser) text(c byte) {
	switch {
	case p.depth > 0:
		p.comment.WriteByte(c)
	case p.angled:
		p.angle.WriteByte(c)
	default:
		p.phrase.WriteByte(c)
	}
}

// inComment handles a byte inside a comment; comments nest (RFC 5322
// §3.2.2), counted rather than recursed into.
func (p *mailboxParser) inComment(c byte) {
	switch c {
	case '(':
		p.depth++
	case ')':
		p.depth--
		if p.depth == 0 {
			if t := strings.TrimSpace(p.comment.String()); t != "" {
				p.comments = append(p.comments, decodeWords(t))
			}
			p.comment.Reset()
			return
		}
	}
	p.comment.WriteByte(c)
}

// finish closes the entry being read.
func (p *mailboxParser) finish() {
	if p.depth > 0 {
		p.inComment(')')
		p.depth = 0
	}
	phrase := strings.Join(strings.Fields(p.phrase.String()), " ")
	b := Mailbox{Comments: p.comments}
	switch {
	case p.hadAngle:
		b.Name, b.Address = decodeWords(phrase), strings.TrimSpace(p.angle.String())
	case strings.Contains(phrase, "@") && !strings.Contains(phrase, " "):
		b.Address = phrase
	default:
		b.Name = decodeWords(phrase)
	}
	if (b.Name != "" || b.Address != "" || len(b.Comments) > 0) && len(p.out) < maxMailboxes {
		p.out = append(p.out, b)
	}
	*p = mailboxParser{out: p.out}
}

// wordDecoder decodes RFC 2047 words in any charset the WHATWG encoding
// list knows (windows-1251, koi8-r, shift_jis...), as mail clients do.
var wordDecoder = &mime.WordDecoder{CharsetReader: func(charset string, input io.Reader) (io.Reader, error) {
	e, err := htmlindex.Get(charset)
	if err != nil {
		return nil, fmt.Errorf("unknown charset %q", charset)
	}
	return e.NewDecoder().Reader(input), nil
}}

// decodeWords decodes the encoded words of a display text; text that does
// not decode is kept as written, which is what a reader would then see.
func decodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	d, err := wordDecoder.DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}
