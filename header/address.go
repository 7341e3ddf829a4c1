package header

import (
	"fmt"
	"strings"
)

// The strict RFC 5322 address-list parser behind ParseFrom.

// fromMailbox is one mailbox: its local part as it would be written in an
// addr-spec, and its normalised domain.
type fromMailbox struct {
	local     string
	domain    string
	hasDomain bool
	raw       string // the address as written, for decoding hidden encoded words
}

func (b fromMailbox) address() string {
	switch {
	case !b.hasDomain && b.local == "":
		return "<>"
	case !b.hasDomain:
		return b.local
	}
	return b.local + "@" + b.domain
}

// fromParser walks one header value. pos only ever moves forward.
type fromParser struct {
	s   string
	pos int
}

// fromSyntaxError says what the strict parser met and where.
type fromSyntaxError struct {
	pos  int
	what string
}

func (e *fromSyntaxError) Error() string {
	return fmt.Sprintf("%s at offset %d", e.what, e.pos)
}

// fromParseList parses an address-list (RFC 5322 §3.4, with §4.4's
// obs-addr-list) and returns its mailboxes and how many groups were empty.
func fromParseList(s string) ([]fromMailbox, int, error) {
	p := &fromParser{s: s}
	var boxes []fromMailbox
	emptyGroups := 0
	for {
		if err := p.skipCFWS(); err != nil {
			return nil, 0, err
		}
		if p.eof() {
			return boxes, emptyGroups, nil
		}
		if p.peek() == ',' { // obs-addr-list: empty elements
			p.pos++
			continue
		}
		got, group, err := p.address(false)
		if err != nil {
			return nil, 0, err
		}
		if group && len(got) == 0 {
			emptyGroups++
		}
		boxes = append(boxes, got...)
		if err := p.skipCFWS(); err != nil {
			return nil, 0, err
		}
		if p.eof() {
			return boxes, emptyGroups, nil
		}
		if p.peek() != ',' {
			return nil, 0, p.errorf("unexpected %q after address", p.peek())
		}
		p.pos++
	}
}

func (p *fromParser) eof() bool  { return p.pos >= len(p.s) }
func (p *fromParser) peek() byte { return p.s[p.pos] }

func (p *fromParser) errorf(format string, args ...any) error {
	return &fromSyntaxError{pos: p.pos, what: fmt.Sprintf(format, args...)}
}

// address parses a mailbox or, outside a group, a group (RFC 5322 §3.4).
// The leading words are read before it is known whether they are a
// display name (then '<' or ':' follows) or a local part ('@' follows).
func (p *fromParser) address(inGroup bool) ([]fromMailbox, bool, error) {
	start := p.pos
	words, err := p.words()
	if err != nil {
		return nil, false, err
	}
	if p.eof() {
		return p.bareLocal(words, start)
	}
	switch c := p.peek(); {
	case c == '<':
		b, err := p.angleAddr()
		return []fromMailbox{b}, false, err
	case c == ':' && !inGroup:
		if !words.phrase() {
			return nil, false, p.errorf("group without a display name")
		}
		p.pos++
		boxes, err := p.groupList()
		return boxes, true, err
	case c == '@':
		b, err := p.addrSpecAfterLocal(words, start)
		return []fromMailbox{b}, false, err
	case c == ',' || (c == ';' && inGroup):
		return p.bareLocal(words, start)
	default:
		return nil, false, p.errorf("unexpected %q", c)
	}
}

// bareLocal accepts a lone local part ("From: root", as written by local
// programs before the MTA qualifies it) as a mailbox without a domain.
func (p *fromParser) bareLocal(words fromWords, start int) ([]fromMailbox, bool, error) {
	if !words.localPart() {
		return nil, false, &fromSyntaxError{pos: start, what: "expected an address"}
	}
	return []fromMailbox{{local: words.local(), raw: p.s[start:p.pos]}}, false, nil
}

// groupList parses the mailboxes of a group up to its ';' (RFC 5322 §3.4
// group-list, with obs-group-list's empty elements).
func (p *fromParser) groupList() ([]fromMailbox, error) {
	var boxes []fromMailbox
	for {
		if err := p.skipCFWS(); err != nil {
			return nil, err
		}
		if p.eof() {
			return nil, p.errorf("group not closed by ';'")
		}
		switch p.peek() {
		case ';':
			p.pos++
			return boxes, nil
		case ',':
			p.pos++
			continue
		}
		got, _, err := p.address(true)
		if err != nil {
			return nil, err
		}
		boxes = append(boxes, got...)
		if err := p.skipCFWS(); err != nil {
			return nil, err
		}
		if !p.eof() && p.peek() == ',' {
			p.pos++
		} else if p.eof() || p.peek() != ';' {
			return nil, p.errorf("expected ',' or ';' in group")
		}
	}
}

// angleAddr parses "<" [obs-route] addr-spec ">" with p at '<'. An empty
// "<>" is a mailbox without a domain.
func (p *fromParser) angleAddr() (fromMailbox, error) {
	p.pos++
	if err := p.skipCFWS(); err != nil {
		return fromMailbox{}, err
	}
	if !p.eof() && (p.peek() == '@' || p.peek() == ',') {
		if err := p.obsRoute(); err != nil {
			return fromMailbox{}, err
		}
	}
	if err := p.skipCFWS(); err != nil {
		return fromMailbox{}, err
	}
	if !p.eof() && p.peek() == '>' {
		p.pos++
		return fromMailbox{}, nil
	}
	start := p.pos
	words, err := p.words()
	if err != nil {
		return fromMailbox{}, err
	}
	var b fromMailbox
	if !p.eof() && p.peek() == '@' {
		if b, err = p.addrSpecAfterLocal(words, start); err != nil {
			return fromMailbox{}, err
		}
	} else if words.localPart() {
		b = fromMailbox{local: words.local(), raw: p.s[start:p.pos]}
	} else {
		return fromMailbox{}, p.errorf("expected an address after '<'")
	}
	if err := p.skipCFWS(); err != nil {
		return fromMailbox{}, err
	}
	if p.eof() || p.peek() != '>' {
		return fromMailbox{}, p.errorf("angle address not closed by '>'")
	}
	p.pos++
	return b, nil
}

// obsRoute skips an obsolete source route (RFC 5322 §4.4 obs-route:
// "@relay1,@relay2:"). The relays are transport history, not authors.
func (p *fromParser) obsRoute() error {
	for {
		if err := p.skipCFWS(); err != nil {
			return err
		}
		if p.eof() {
			return p.errorf("unterminated route")
		}
		switch p.peek() {
		case ',':
			p.pos++
		case ':':
			p.pos++
			return nil
		case '@':
			p.pos++
			if _, err := p.domain(); err != nil {
				return err
			}
		default:
			return p.errorf("unexpected %q in route", p.peek())
		}
	}
}

// addrSpecAfterLocal finishes an addr-spec whose local part has been read;
// p is at '@'.
func (p *fromParser) addrSpecAfterLocal(words fromWords, start int) (fromMailbox, error) {
	if !words.localPart() {
		return fromMailbox{}, p.errorf("'@' without a local part")
	}
	p.pos++
	d, err := p.domain()
	if err != nil {
		return fromMailbox{}, err
	}
	return fromMailbox{local: words.local(), domain: d, hasDomain: true, raw: p.s[start:p.pos]}, nil
}

// domain parses a dot-atom, obs-domain or domain-literal and returns it
// normalised. One trailing dot ("example.org.", the root written out) is
// accepted and dropped: mail clients show such a domain as the domain
// itself, so it must count as that domain.
func (p *fromParser) domain() (string, error) {
	if err := p.skipCFWS(); err != nil {
		return "", err
	}
	if !p.eof() && p.peek() == '[' {
		lit, err := p.domainLiteral()
		return strings.ToLower(lit), err
	}
	var labels []string
	for {
		if err := p.skipCFWS(); err != nil {
			return "", err
		}
		atom := p.atom()
		if atom == "" {
			if len(labels) > 0 {
				break // the single trailing dot, already consumed
			}
			return "", p.errorf("expected a domain")
		}
		labels = append(labels, atom)
		if err := p.skipCFWS(); err != nil {
			return "", err
		}
		if p.eof() || p.peek() != '.' {
			break
		}
		p.pos++
	}
	return NormalizeDomain(strings.Join(labels, ".")), nil
}

// domainLiteral reads "[" *dtext "]" (RFC 5322 §3.4.1, with obs-dtext's
// quoted-pairs), p at '['.
func (p *fromParser) domainLiteral() (string, error) {
	start := p.pos
	p.pos++
	for !p.eof() {
		switch c := p.peek(); {
		case c == ']':
			p.pos++
			return p.s[start:p.pos], nil
		case c == '\\' && p.pos+1 < len(p.s):
			p.pos += 2
		case c == '[' || c == 0:
			return "", p.errorf("unexpected %q in domain literal", c)
		default:
			p.pos++
		}
	}
	return "", p.errorf("unterminated domain literal")
}

// fromWord is one element of a phrase or local part.
type fromWord struct {
	text   string // atom text, or the content of a quoted string
	quoted bool
	dot    bool
}

type fromWords []fromWord

// words reads a run of atoms, quoted strings and dots, with CFWS between
// them: a display name (obs-phrase allows dots) or a local part
// (obs-local-part allows CFWS around dots). Consecutive dots are accepted
// in local parts because real mail has them and the local part plays no
// part in any decision here.
func (p *fromParser) words() (fromWords, error) {
	var ws fromWords
	for {
		if err := p.skipCFWS(); err != nil {
			return nil, err
		}
		if p.eof() {
			return ws, nil
		}
		switch c := p.peek(); {
		case c == '"':
			q, err := p.quotedString()
			if err != nil {
				return nil, err
			}
			ws = append(ws, fromWord{text: q, quoted: true})
		case c == '.':
			p.pos++
			ws = append(ws, fromWord{text: ".", dot: true})
		case fromIsAtext(c):
			ws = append(ws, fromWord{text: p.atom()})
		default:
			return ws, nil
		}
	}
}

// phrase reports whether the words can be a display name: at least one
// word, not starting with a dot (RFC 5322 §4.1 obs-phrase).
func (ws fromWords) phrase() bool {
	return len(ws) > 0 && !ws[0].dot
}

// localPart reports whether the words can be a local part: at least one
// word that is not a dot.
func (ws fromWords) localPart() bool {
	for _, w := range ws {
		if !w.dot {
			return true
		}
	}
	return false
}

// local writes the local part back as it would appear in an addr-spec:
// verbatim when it is made of atoms and dots, as one quoted string
// otherwise.
func (ws fromWords) local() string {
	var b strings.Builder
	quoted := false
	for _, w := range ws {
		quoted = quoted || w.quoted
		b.WriteString(w.text)
	}
	if !quoted {
		return b.String()
	}
	var q strings.Builder
	q.WriteByte('"')
	for _, r := range []byte(b.String()) {
		if r == '"' || r == '\\' {
			q.WriteByte('\\')
		}
		q.WriteByte(r)
	}
	q.WriteByte('"')
	return q.String()
}

// atom reads 1*atext (possibly none) and returns it.
func (p *fromParser) atom() string {
	start := p.pos
	for !p.eof() && fromIsAtext(p.peek()) {
		p.pos++
	}
	return p.s[start:p.pos]
}

// quotedString reads a quoted-string (RFC 5322 §3.2.4) with p at '"' and
// returns its content with quoted-pairs resolved and folding removed.
func (p *fromParser) quotedString() (string, error) {
	p.pos++
	var b strings.Builder
	for !p.eof() {
		c := p.peek()
		switch {
		case c == '"':
			p.pos++
			return b.String(), nil
		case c == '\\' && p.pos+1 < len(p.s):
			b.WriteByte(p.s[p.pos+1])
			p.pos += 2
		case c == '\r' || c == '\n':
			p.pos++
		case c == 0:
			return "", p.errorf("NUL in quoted string")
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	return "", p.errorf("unterminated quoted string")
}

// skipCFWS skips folding white space and comments (RFC 5322 §3.2.2).
// Comments nest; depth is a counter, so hostile nesting costs nothing.
func (p *fromParser) skipCFWS() error {
	depth := 0
	for !p.eof() {
		c := p.peek()
		switch {
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case c == '\\' && depth > 0 && p.pos+1 < len(p.s):
			p.pos++
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
		case depth > 0:
			if c == 0 {
				return p.errorf("NUL in comment")
			}
		default:
			return nil
		}
		p.pos++
	}
	if depth > 0 {
		return p.errorf("unterminated comment")
	}
	return nil
}

// fromIsAtext reports whether c is atext (RFC 5322 §3.2.3); bytes of
// UTF-8 sequences count as atext (RFC 6532 §3.2).
func fromIsAtext(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	case c >= 0x80:
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}
