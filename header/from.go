package dnsauth

// RFC5322.From extraction. DMARC, and spoofguard's own-domain rule, hang
// on the domain of the author, so this parser has one job: find every
// domain a reader could take for the author's, and never one that only the
// display name claims. It parses RFC 5322 §3.4 and §3.6.2 with the
// obsolete syntax of §4.4 (route addresses, CFWS around dots, empty list
// elements) and RFC 6532 UTF-8, by hand rather than with net/mail, which
// refuses some forms seen in real mail and decodes display names we have
// no use for. When the strict parse fails, a lenient scan reports every
// "@domain" in the header so that a broken From that mentions a protected
// domain is still seen as mentioning it.
//
// Everything is linear in the size of the header: comments nest by
// counting, never by recursion, and each byte is read a bounded number of
// times (the strict parse, the lenient scan, the decoding of encoded
// words).

import (
	"fmt"
	"io"
	"mime"
	"strings"
)

// From is what the From header fields of a message say about its author.
type From struct {
	Addresses []string // every mailbox found, as local@domain (domain normalised as in Domains), a bare local part, or "<>"
	Domains   []string // distinct author domains in order: lower case, no trailing dot, A-labels
	Problem   string   // "" for exactly one From field holding one mailbox with a domain; else why not
	Lenient   bool     // Domains came partly from the lenient scan: a strict parse failed, or an address hid an encoded word
}

// ParseFrom reads the raw values of every From header field of a message
// (RFC 5322 §3.6.2 allows exactly one, holding a mailbox-list) and returns
// the authors it names. It never fails: a message with no usable From
// still gets a From whose Problem says why, and whose Domains hold
// whatever domains could be found (RFC 7489 §6.6.1 leaves the handling of
// such messages to the receiver; spoofguard evaluates every domain).
func ParseFrom(values []string) From {
	c := fromCollector{seen: map[string]bool{}}
	for _, v := range values {
		c.header(v)
	}
	c.f.Problem = fromProblem(len(values), c.unparseable, c.encoded, c.mailboxes, c.withoutDomain, c.emptyGroups)
	return c.f
}

// fromCollector gathers the mailboxes of every From field and counts what
// fromProblem needs to know.
type fromCollector struct {
	f                                     From
	seen                                  map[string]bool
	unparseable                           string
	encoded                               bool
	mailboxes, withoutDomain, emptyGroups int
}

// header parses one field value, strictly or else leniently.
func (c *fromCollector) header(v string) {
	boxes, groups, err := fromParseList(v)
	var decoded []string
	if err != nil {
		if c.unparseable == "" {
			c.unparseable = "unparseable: " + err.Error()
		}
		c.f.Lenient = true
		boxes = fromLenientScan(v)
		decoded = fromEncodedDomains(v) // display names included: in doubt
	}
	c.emptyGroups += groups
	for _, b := range boxes {
		c.mailbox(b)
	}
	for _, d := range decoded {
		c.add(d)
	}
}

func (c *fromCollector) mailbox(b fromMailbox) {
	c.mailboxes++
	c.f.Addresses = append(c.f.Addresses, b.address())
	if !b.hasDomain || b.domain == "" {
		c.withoutDomain++
	}
	c.add(b.domain)
	for _, d := range fromEncodedDomains(b.raw) {
		if d != b.domain {
			c.encoded, c.f.Lenient = true, true
			c.add(d)
		}
	}
}

func (c *fromCollector) add(d string) {
	if d != "" && !c.seen[d] {
		c.seen[d] = true
		c.f.Domains = append(c.f.Domains, d)
	}
}

// fromEncodedDomains decodes RFC 2047 encoded words in s and returns the
// domains the lenient scan finds in the decoded text. Encoded words
// belong in display names and comments only; some mail clients decode
// them anywhere, so "=?utf-8?b?...?=@evil.example" can be shown as an
// address of quite another domain (the "Mailsploit" family). Such a
// domain counts as an author domain.
func fromEncodedDomains(s string) []string {
	if !strings.Contains(s, "=?") {
		return nil
	}
	dec := mime.WordDecoder{CharsetReader: fromAnyCharset}
	decoded, err := dec.DecodeHeader(s)
	if err != nil || decoded == s {
		return nil
	}
	var out []string
	for _, b := range fromLenientScan(decoded) {
		out = append(out, b.domain)
	}
	return out
}

// fromAnyCharset lets bytes of any charset through undecoded: the '@'
// and the domain that matter here are ASCII in every charset a client
// would render them from.
func fromAnyCharset(_ string, input io.Reader) (io.Reader, error) {
	return input, nil
}

// fromProblem names the first reason the From fields do not give exactly
// one author, most fundamental first.
func fromProblem(headers int, unparseable string, encoded bool, mailboxes, withoutDomain, emptyGroups int) string {
	switch {
	case headers == 0:
		return "no From header"
	case headers > 1:
		return fmt.Sprintf("%d From headers", headers)
	case unparseable != "":
		return unparseable
	case encoded:
		return "encoded word in an address"
	case mailboxes == 0 && emptyGroups > 0:
		return "group without mailboxes"
	case mailboxes == 0:
		return "no address"
	case withoutDomain > 0:
		return "address without a domain"
	case mailboxes > 1:
		return fmt.Sprintf("%d addresses", mailboxes)
	}
	return ""
}

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
	return orgNormalize(strings.Join(labels, ".")), nil
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

// fromLenientScan is the fallback for a header value the strict parser
// refused. It cannot know where a display name ends, so it reports every
// "@domain" in the value, with the local part that precedes it when there
// is one: a domain a reader might take for the author's must not slip
// through, and one too many only makes the engine stricter. The single
// exception is a well-formed quoted string directly followed by '<',
// which can only be a display name.
func fromLenientScan(s string) []fromMailbox {
	var boxes []fromMailbox
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			if end, ok := fromQuotedDisplayName(s, i); ok {
				i = end
			}
		case '@':
			d, end := fromScanDomain(s, i+1)
			if d == "" {
				continue
			}
			boxes = append(boxes, fromMailbox{local: fromScanLocal(s, i), domain: d, hasDomain: true})
			i = end - 1
		}
	}
	return boxes
}

// fromQuotedDisplayName reports whether the quoted string opening at
// s[open] is closed and followed, after white space, by '<'; end is the
// index of its closing quote.
func fromQuotedDisplayName(s string, open int) (end int, ok bool) {
	i := open + 1
	for ; i < len(s) && s[i] != '"'; i++ {
		if s[i] == '\\' {
			i++
		}
	}
	if i >= len(s) {
		return 0, false
	}
	end = i
	for i++; i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'); i++ {
	}
	return end, i < len(s) && s[i] == '<'
}

// fromScanDomain reads the domain after an '@' at s[start-1], allowing
// white space before it, and returns it normalised (stray leading and
// trailing dots dropped) with the index just past it.
func fromScanDomain(s string, start int) (string, int) {
	i := start
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	if i < len(s) && s[i] == '[' {
		if j := strings.IndexByte(s[i:], ']'); j > 0 {
			return strings.ToLower(s[i : i+j+1]), i + j + 1
		}
	}
	j := i
	for j < len(s) && fromIsDomainByte(s[j]) {
		j++
	}
	d := strings.Trim(s[i:j], ".")
	if d == "" {
		return "", j
	}
	return orgNormalize(d), j
}

// fromIsDomainByte is the set of bytes the lenient scan takes as part of a
// domain: what the strict parser accepts in a dot-atom (atext, which
// includes the bytes of UTF-8 sequences, and dots).
func fromIsDomainByte(c byte) bool {
	return c == '.' || fromIsAtext(c)
}

// fromScanLocal returns the dot-atom that ends just before the '@' at
// s[at]. The scan stops at the first byte that is neither atext nor a dot,
// and '@' is neither, so a byte is read at most twice over all scans.
func fromScanLocal(s string, at int) string {
	i := at
	for i > 0 && (fromIsAtext(s[i-1]) || s[i-1] == '.') {
		i--
	}
	return s[i:at]
}
