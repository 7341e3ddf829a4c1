// Package received reads one Received header field: the trace record an SMTP
// server prepends when it accepts a message (RFC 5321 §4.4, RFC 5322
// §3.6.7). spoofguard runs behind an inbound filtering relay, and for mail
// that came through the relay the client that matters for SPF and DMARC is
// the one that connected to the relay, not the relay itself. That client is
// known only from the Received header the relay wrote, so this package turns
// such a header into a Hop: the client's address, its HELO name, its reverse
// DNS name, and the rest of the clauses.
//
// The grammar in RFC 5321 §4.4 is a sketch that no MTA follows to the
// letter. Parse reads what Postfix, Exim, Sendmail, qmail, Microsoft
// Exchange and Exchange Online, Google, and the filtering services built on
// them (Proofpoint, Mimecast, Barracuda, Cisco, Momentum) write.
//
// The header mixes text the receiving MTA wrote with text the client chose:
// its HELO argument above all, which many writers copy as sent. So the
// client address is never the first address found, but the only one: every
// place in the from clause that holds an address is counted, leaving out
// the slots known to carry client text (see tcpinfo.go for what each writer
// escapes). One place, "from helo (host [192.0.2.1])", "from host
// [192.0.2.1] (EHLO x)" or "from [192.0.2.1] (helo=x)", names the client.
// More than one means the client's text poses as the MTA's, and the
// header is refused with ErrAmbiguous rather than guessed at: "from x
// [203.0.113.10] (unknown [192.0.2.66])" could be either.
//
//   - The HELO name is the from-domain (with what is glued to it, as in
//     Postfix's "x?[192.0.2.9]"), or the helo= item (Exim) or the
//     "(HELO x)" comment (qmail and relatives) where the from-domain is the
//     reverse DNS name instead.
//   - Authentication is read from the protocol the receiver wrote
//     ("with ESMTPSA", RFC 3848) and from notes after the client address
//     such as Postfix's "(Authenticated sender: ...)".
//
// A header that does not yield a client address is an error, never a
// partial guess: the caller must decide what an unreadable relay header
// means. A bare dotted quad as the from-domain ("from 192.0.2.1 by ...")
// is not taken as the address, since that spot holds the client's own HELO
// text in most MTAs. A literal from-domain with no TCP-info
// ("from [192.0.2.1] by ...") is taken, because Exim writes the address
// there; so a header is only as trustworthy as its writer, and the caller
// should parse only the headers its known relay wrote.
//
// Parsing is one pass over the value, linear in its length, and does not
// allocate on success unless a protocol name of several words is folded
// across lines.
package received

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxLength is the longest value Parse reads. Real Received headers are
// well under 1 KiB; anything near this size is hostile.
const MaxLength = 16 << 10

// Hop is what one Received header says about one SMTP hop. Its strings
// share memory with the value given to Parse.
type Hop struct {
	Helo          string     // the name the client gave in HELO/EHLO, as written ("" if not recorded)
	Host          string     // the client's host name as the receiver resolved it (reverse DNS), "" if unknown
	IP            netip.Addr // the client's address; IPv4-mapped IPv6 addresses are unmapped
	By            string     // the receiving host
	With          string     // the protocol as written: "ESMTPS", "esmtpsa", "Microsoft SMTP Server"
	ID            string     // the receiver's queue or message ID
	For           string     // the recipient address, without angle brackets
	Date          time.Time  // when the receiver accepted the message; zero if missing or unreadable
	Authenticated bool       // the client authenticated (SMTP AUTH) to the receiver
}

// Parse reads the body of one Received header field. The value may be
// folded or unfolded and may keep the space after the colon. It returns an
// *Error wrapping one of the Err* sentinels when the value names no usable
// client address.
func Parse(value string) (Hop, error) {
	if len(value) > MaxLength {
		return Hop{}, newError(ErrTooLong, MaxLength, "")
	}
	return parse(value)
}

// parse is Parse without the length limit, so tests can show that the
// work grows linearly with the input rather than relying on the limit.
func parse(value string) (Hop, error) {
	if err := checkText(value); err != nil {
		return Hop{}, err
	}
	p := parser{sc: scanner{s: value, lim: len(value)}}
	if err := p.parse(); err != nil {
		return Hop{}, err
	}
	return p.resolve()
}

// checkText rejects values that no MTA writes: control characters
// (RFC 5322 §3.2.3 allows none but folding white space) and invalid UTF-8
// (RFC 6532 §3.2 allows only well-formed UTF-8).
func checkText(s string) error {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if (c < ' ' && !isSpace(c)) || c == 0x7f {
				return malformed(i, "control character")
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return malformed(i, "invalid UTF-8")
		}
		i += size
	}
	return nil
}

// fromClause gathers what the from clause says before it is resolved into
// a Hop, because some items change the meaning of others: a "(HELO x)"
// comment makes the from-domain a reverse DNS name instead of the HELO,
// and an address in the comment after a literal from-domain makes that
// literal the HELO.
type fromClause struct {
	at       int    // offset of the "from" keyword
	domain   token  // the from-domain's first token: a word or a literal, tokEOF if absent
	domEnd   int    // the from-domain's end, glued tokens included
	compound bool   // the from-domain is several glued tokens: HELO text, never an address
	domHelo  bool   // the comment right after a literal from-domain holds the address
	items    int    // items read after the from-domain
	notes    int    // how many of them are greeting notes: "(HELO x)"
	n        int    // places outside the from-domain that hold an address
	cand     string // the first of them, as written
	candAt   int
	takeable bool   // it stands where writers put the client's address
	host     string // the name in the TCP-info comment
	helo     string // from helo= or "(HELO x)"
	heloSet  bool
	heloNote bool // a "(HELO x)" comment: the from-domain is the host name
	exim     bool // Exim's key=value items were seen
	auth     bool
}

// parser walks the tokens of one value in a single pass.
type parser struct {
	sc     scanner
	back   token
	backed bool
	hop    Hop
	from   fromClause
	exim   bool // the receiver signed as Exim: "(Exim 4.96)"
	dateAt int  // offset just past the last top-level ";", 0 if none
}

func (p *parser) next() (token, error) {
	if p.backed {
		p.backed = false
		return p.back, nil
	}
	return p.sc.next()
}

func (p *parser) unread(t token) {
	p.back, p.backed = t, true
}

// parse reads the clauses in their order (RFC 5321 §4.4 Stamp): from,
// by, the optional via/with/id/for, and after the last top-level ";" the
// date. The by clause is required, as in the Stamp grammar: every writer
// puts it right after the text it wrote about the client, so a header
// whose "by" is missing had it swallowed by something the client opened.
func (p *parser) parse() error {
	if err := p.fromKeyword(); err != nil {
		return err
	}
	by, err := p.fromItems()
	if err != nil {
		return err
	}
	if !by {
		if _, err := p.resolve(); err != nil {
			return err // the more telling reason, for headers that name no client at all
		}
		return malformed(p.from.at, "no by clause")
	}
	if err := p.byClause(); err != nil {
		return err
	}
	return p.dateTail()
}

// fromKeyword finds the from clause. Comments before it are skipped, except
// Sendmail's form for a client that sent no HELO: "(from host [192.0.2.1])".
func (p *parser) fromKeyword() error {
	for seen := false; ; seen = true {
		t, err := p.next()
		if err != nil {
			return err
		}
		switch {
		case t.kind == tokComment && hasWordPrefixFold(t.text, "from"):
			p.from.at = t.start
			lead := len(t.text) - len(strings.TrimLeft(t.text, " \t\r\n"))
			return p.tcpInfo(t.start+1+lead+len("from"), t.end-1)
		case t.kind == tokComment:
			continue
		case t.kind == tokWord && strings.EqualFold(t.text, "from"):
			p.from.at = t.start
			return p.fromDomain()
		case t.kind == tokEOF && !seen:
			return newError(ErrNoFrom, t.start, "empty value")
		default:
			return newError(ErrNoFrom, t.start, "")
		}
	}
}

// fromDomain reads the name or literal right after "from". It may be
// missing ("from ([192.0.2.1] helo=x)").
func (p *parser) fromDomain() error {
	t, err := p.next()
	if err != nil {
		return err
	}
	if (t.kind == tokWord && !strings.EqualFold(t.text, "by")) || t.kind == tokLiteral {
		f := &p.from
		f.domain = t
		end, err := p.sc.gluedEnd(t.end, false)
		f.domEnd, f.compound = end, end != t.end
		return err
	}
	p.unread(t)
	return nil
}

// fromItems reads the comments and literals between the from-domain and
// "by". A quoted string or a path has no place there in any writer's
// layout; only client text can put one there, and it could hide what the
// MTA wrote after it, so the header is refused.
func (p *parser) fromItems() (by bool, err error) {
	for ; ; p.from.items++ {
		t, err := p.next()
		if err != nil {
			return false, err
		}
		switch t.kind {
		case tokEOF, tokSemi:
			return false, nil
		case tokWord:
			if strings.EqualFold(t.text, "by") {
				return true, nil
			}
		case tokLiteral:
			// "from unknown [192.0.2.1] (EHLO x)" (Momentum) and fetchmail
			// write the address bare right after the from-domain, GMX
			// after a greeting note: "from host (EHLO x) [192.0.2.1]".
			p.candidate(t.text, t.start+1, p.from.items == p.from.notes)
		case tokComment:
			if err := p.fromComment(t); err != nil {
				return false, err
			}
		case tokQuoted, tokAngle:
			return false, newError(ErrAmbiguous, t.start, "quoted text in the from clause")
		}
	}
}

// isAuthNote reports whether a from-clause comment starting with word w
// records SMTP AUTH: Postfix and Exim "(Authenticated sender: a@b)",
// Sendmail "(authenticated bits=0)", others "(AUTH: LOGIN a@b)".
func isAuthNote(w string) bool {
	return strings.EqualFold(w, "authenticated") || strings.EqualFold(w, "AUTH:")
}

// byClause reads "by" and the optional clauses after it up to the date.
func (p *parser) byClause() error {
	t, err := p.next()
	if err != nil {
		return err
	}
	switch {
	case t.kind == tokWord && clauseOf(t.text) == clNone:
		p.hop.By = t.text
	case t.kind == tokLiteral:
		p.hop.By = p.sc.s[t.start:t.end]
	default:
		p.unread(t)
	}
	var c clauses
	for {
		t, err := p.next()
		if err != nil {
			return err
		}
		if t.kind == tokEOF || t.kind == tokSemi {
			p.unread(t)
			break
		}
		if err := p.laterItem(t, 2); err != nil {
			return err
		}
		if t.kind == tokComment && strings.HasPrefix(t.text, "Exim ") {
			p.exim = true
		}
		if err := c.add(p, t); err != nil {
			return err
		}
	}
	c.finish(p)
	return nil
}

// dateTail skips to the end, remembering where the last top-level ";"
// is: RFC 5322 §3.6.7 puts the date after it, and a ";" inside a comment
// does not count.
func (p *parser) dateTail() error {
	for {
		t, err := p.next()
		if err != nil {
			return err
		}
		switch t.kind {
		case tokEOF:
			return nil
		case tokSemi:
			p.dateAt = t.end
		case tokLiteral:
			return newError(ErrAmbiguous, t.start, "address literal after the clauses")
		default:
			if err := p.laterItem(t, 1); err != nil {
				return err
			}
		}
	}
}

// laterItem refuses an item after the from clause that shows the
// client's text swallowed what the MTA wrote about the client. The MTA's
// TCP-info comes after the client's HELO text and before the real "by";
// to move it out of the from clause, the HELO must bring its own "by" (or
// ";") and then hide the real one, and whatever hides it hides the
// TCP-info too. So these are refused: a second "by" keyword ("HELO x
// [192.0.2.1] by mx with ESMTP id Q;" kept as sent by a writer that does
// not sanitise it), a comment holding an address at depth or deeper (1:
// the comment itself, 2: a comment nested in it; the TCP-info has its own
// parentheses, so a comment the client opened holds it one level down,
// while the receiver's own address, "by EXCH02 (10.0.0.6)", is at depth
// 1), and a quoted string or path holding one at all (those hold client
// text: a recipient or a sender). "from" may follow: XMail writes "from
// <sender>" after its for clause.
func (p *parser) laterItem(t token, depth int) error {
	switch t.kind {
	case tokWord:
		if strings.EqualFold(t.text, "by") {
			return newError(ErrAmbiguous, t.start, "a second by clause")
		}
		return nil
	case tokQuoted, tokAngle:
		depth = 1
	case tokComment:
	default:
		return nil
	}
	d, err := p.addrDepth(t.start+1, t.end-1)
	if err == nil && d >= depth {
		err = newError(ErrAmbiguous, t.start, "an address after the from clause, inside "+quoteDetail(p.sc.s[t.start:t.end]))
	}
	return err
}

// addrDepth returns the deepest level (1: the comment itself) at which the
// comment inside from..to holds an address literal or a word that is an
// IP address; 0 if none. Parentheses inside a path, which the comment's
// scan passed over, may unbalance it; that is no error here.
func (p *parser) addrDepth(from, to int) (int, error) {
	sc := scanner{s: p.sc.s, pos: from, lim: to}
	depth, deepest := 1, 0
	for {
		t, err := sc.flat()
		if err != nil {
			return 0, err
		}
		switch t.kind {
		case tokEOF:
			return deepest, nil
		case tokOpen:
			depth++
		case tokClose:
			depth = max(depth-1, 1)
		case tokLiteral:
			deepest = max(deepest, depth)
		case tokWord:
			// A failed netip parse allocates its error, and version
			// numbers ("(Exim 4.96)") are common here: check the shape.
			if a := afterAt(t.text); looksLikeAddr(a) && (strings.Count(a, ".") == 3 || strings.Contains(a, ":")) {
				if _, ok := parseAddr(a); ok {
					deepest = max(deepest, depth)
				}
			}
		}
	}
}

// resolve turns what the clauses said into a Hop: the one place that
// holds an address is the client's, and a literal from-domain is that
// place when no comment right after it holds one (Exim's "from [192.0.2.1]
// (helo=x)").
func (p *parser) resolve() (Hop, error) {
	f := &p.from
	domAddr := f.domain.kind == tokLiteral && !f.compound && !f.domHelo
	total := f.n
	if domAddr {
		total++
		f.cand, f.candAt, f.takeable = f.domain.text, f.domain.start+1, true
	}
	switch {
	case total > 1:
		return Hop{}, newError(ErrAmbiguous, f.at, strconv.Itoa(total)+" places hold an address")
	case total == 0 || !f.takeable:
		return Hop{}, newError(ErrNoIP, f.at, "")
	}
	ip, ok := parseAddr(f.cand)
	if !ok {
		return Hop{}, newError(ErrBadIP, f.candAt, quoteDetail(f.cand))
	}
	h := p.hop
	h.IP = ip
	h.Helo = p.helo(domAddr)
	h.Host = p.host()
	h.Authenticated = h.Authenticated || f.auth
	if p.dateAt > 0 {
		h.Date = parseDate(p.sc.s[p.dateAt:])
	}
	return h, nil
}

// helo picks the HELO name: an explicit helo= or "(HELO x)" first, else
// the from-domain unless it was the client address itself.
func (p *parser) helo(domAddr bool) string {
	f := &p.from
	switch {
	case f.heloSet:
		return f.helo
	case f.domain.kind == tokEOF || domAddr:
		return ""
	}
	return p.sc.s[f.domain.start:f.domEnd]
}

// host picks the reverse DNS name: the one in the TCP-info comment, else
// the from-domain where the writer puts the verified name there (Exim,
// and the "(HELO x)" family, which writes "unknown" when there is none).
func (p *parser) host() string {
	f := &p.from
	if f.host != "" {
		return f.host
	}
	if f.domain.kind != tokWord || f.compound || !(f.exim || p.exim || f.heloNote) {
		return ""
	}
	return hostName(f.domain.text)
}

// hostName cleans a resolved name: "unknown" means none (Postfix, qmail),
// and the trailing dot of a fully qualified name (Google) is dropped.
func hostName(s string) string {
	if strings.EqualFold(s, "unknown") {
		return ""
	}
	return strings.TrimSuffix(s, ".")
}

// firstWord returns the first white-space-delimited word of s.
func firstWord(s string) string {
	s = strings.TrimLeft(s, " \t\r\n")
	for i := 0; i < len(s); i++ {
		if isSpace(s[i]) {
			return s[:i]
		}
	}
	return s
}

// hasWordPrefixFold reports whether s starts, after white space, with the
// word w followed by white space.
func hasWordPrefixFold(s, w string) bool {
	s = strings.TrimLeft(s, " \t\r\n")
	return len(s) > len(w) && strings.EqualFold(s[:len(w)], w) && isSpace(s[len(w)])
}

// String renders the hop as key=value pairs for logs and traces, leaving
// out empty fields; values that could be mistaken for separators are
// quoted. Kept although only tests call it: the parser corpus's expected
// outcomes are written in this form, and fmt prints a Hop with it.
func (h Hop) String() string {
	var b strings.Builder
	add := func(key, v string) {
		if v == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(key)
		b.WriteByte('=')
		if strings.ContainsAny(v, " \t\r\n\"\\=") {
			v = strconv.Quote(v)
		}
		b.WriteString(v)
	}
	if h.IP.IsValid() {
		add("ip", h.IP.String())
	}
	add("helo", h.Helo)
	add("host", h.Host)
	add("by", h.By)
	add("with", h.With)
	add("id", h.ID)
	add("for", h.For)
	if !h.Date.IsZero() {
		add("date", h.Date.Format(time.RFC3339))
	}
	if h.Authenticated {
		add("auth", "yes")
	}
	return b.String()
}
