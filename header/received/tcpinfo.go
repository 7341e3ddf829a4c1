package received

import (
	"net/netip"
	"strings"
)

// The client's address is the one item of the from clause that only the
// receiving MTA writes: its TCP-info, "(host.example.net [192.0.2.1])",
// which it puts right after the client's HELO text, or in some layouts
// the bare address itself. Everything else in the from clause is client
// text or derived from it: the HELO argument, an RFC 1413 ident, and the
// reverse DNS name (whose zone the client's owner controls). What each
// writer lets through of that text, read in its source or documentation:
//
//   - Postfix (src/smtpd/smtpd.c, helo_cmd and ehlo_cmd) passes the HELO
//     argument through printable() and neuter() with NEUTER_CHARACTERS,
//     which turn control characters, white space and any of < > ( ) \ "
//     ; @ into "?", but keep "[" and "]"; the host name in the TCP-info
//     passed valid_hostname() (smtpd_peer.c) or is "unknown". data_cmd
//     writes "from HELO (NAME [ADDR])", then TLS and "(Authenticated
//     sender: ...)" comments, cleaned by comment_sanitize().
//   - Sendmail (srvrsmtp.c, the HELO/EHLO case of smtp()) cuts the
//     argument at the first white space and refuses any character but
//     letters, digits and "[].-_#:" unless AllowBogusHELO is set, which
//     lets everything but white space through. cf/m4/proto.m4 writes
//     "from $s ($_)", $_ being "[ident@]name [addr]" and "(may be forged)"
//     when the name is not confirmed.
//   - qmail (received.c, safeput) turns every byte outside letters,
//     digits and ".@%+/=:-[]" into "?" and writes "from NAME (HELO h)
//     (ident@ADDR)".
//   - Exim (smtp_in.c, check_helo) refuses a HELO that is not a domain or
//     an address literal unless helo_accept_junk_hosts matches (some
//     hosting panels set it to "*", so junk HELOs do get through); its
//     default received_header_text writes $sender_rcvhost: "NAME ([ADDR]
//     helo=h)" or "[ADDR] (helo=h)", with port= and ident= items.
//   - Exchange, Exchange Online, Google, Proofpoint, Mimecast, Barracuda,
//     Cisco and Momentum publish no source. Their headers show the
//     layouts above ("from HELO (ADDR)", "from NAME (HELO h) ([ADDR])",
//     "from NAME [ADDR] (EHLO h)"), and what they do with a hostile HELO
//     is not known, so the parser assumes they keep it as sent.
//
// So the parser counts every place in the from clause that holds an
// address, at any comment depth, leaving out only the slots it knows to
// be client text (the from-domain when it is the HELO, a greeting
// comment's value, helo= and ident= values). One place: that is the
// client. More than one: client text poses as TCP-info, and which one the
// MTA wrote cannot be told, since an unsanitised "HELO x [203.0.113.10]"
// yields "from x [203.0.113.10] (unknown [192.0.2.66])" and a sanitised
// writer never yields two; the header is refused with ErrAmbiguous rather
// than guessed at. The MTA's own TCP-info is always counted, because it
// follows the client's text: whatever the client opens (a comment, a
// quoted string, a path, a ";") either swallows it into a place that is
// still counted or makes the header unreadable or ambiguous.

// commentWalk is what one comment of the from clause said, read item by
// item in one pass.
type commentWalk struct {
	depth    int   // 1 inside the comment itself, more in nested ones
	items    int   // items at depth 1, the client-text value runs counting as one
	first    token // the first item at depth 1
	nested   bool  // a comment is nested inside
	verb     bool  // the comment opens with a greeting verb: "(HELO name)"
	account  bool  // CommuniGate Pro: "(account user HELO name)"
	auth     bool  // an authentication note
	slot     bool  // the next item is client text
	keyed    bool  // a keyword announced client text: helo=, ident=, HELO, account
	slotHelo bool  // ... and it is the HELO
	valueAt  int   // where the greeting's value is, when it is shaped like an address
	value    string
	takeable int // addresses found at depth 1
}

// tcpInfo reads the inside of Sendmail's "(from name [addr])", the form
// for a client that sent no HELO.
func (p *parser) tcpInfo(from, to int) error {
	_, err := p.walkComment(from, to)
	return err
}

// fromComment reads one comment of the from clause: the TCP-info, a
// greeting note, an authentication note, or anything else, each searched
// for addresses.
func (p *parser) fromComment(t token) error {
	f := &p.from
	// An authentication note counts only where the MTA writes it, after
	// the client's address; before it, it can be HELO text.
	owned := f.n > 0 || (f.domain.kind == tokLiteral && !f.compound)
	w, err := p.walkComment(t.start+1, t.end-1)
	if err != nil {
		return err
	}
	if f.items == 0 && w.takeable > 0 && !w.keyed {
		// "from [192.168.1.2] (host [192.0.2.1])": the literal is the
		// HELO. Where a writer puts the address there instead, the
		// comment after it opens with a keyword before the client's text
		// ("(helo=x)", "(HELO x)", "(account a)"), and that text may hold
		// an address of its own.
		f.domHelo = true
	}
	f.auth = f.auth || (w.auth && owned)
	return nil
}

// walkComment reads a comment's inside, nested comments included, in one
// flat pass.
func (p *parser) walkComment(from, to int) (commentWalk, error) {
	sc := scanner{s: p.sc.s, pos: from, lim: to}
	w := commentWalk{depth: 1}
	for {
		t, err := sc.flat()
		if err != nil {
			return w, err
		}
		switch t.kind {
		case tokEOF:
			p.endComment(&w)
			return w, nil
		case tokOpen:
			w.depth++
			w.nested, w.slot = true, false
		case tokClose:
			if w.depth--; w.depth < 1 {
				return w, malformed(t.start, "unbalanced )")
			}
			w.slot = false
		default:
			if err := p.commentItem(&sc, &w, t); err != nil {
				return w, err
			}
		}
	}
}

// commentItem handles one word, literal or quoted string of a comment.
func (p *parser) commentItem(sc *scanner, w *commentWalk, t token) error {
	top := w.depth == 1
	if top {
		if w.items == 0 {
			w.first = t
		}
		w.items++
	}
	if w.slot && (t.kind == tokWord || t.kind == tokLiteral) {
		w.slot = false
		return p.clientValue(sc, w, t, 0, w.slotHelo)
	}
	w.slot = false
	switch t.kind {
	case tokWord:
		return p.commentWord(sc, w, t, top)
	case tokLiteral:
		p.commentAddr(w, t.text, t.start+1, top)
	}
	return nil
}

// commentWord sorts one word of a comment: a keyword that announces
// client text, an address, or anything else.
func (p *parser) commentWord(sc *scanner, w *commentWalk, t token, top bool) error {
	word := t.text
	lead := top && w.items == 1
	switch {
	case lead && isGreeting(word):
		// qmail, Cisco, Momentum: "(HELO name)"; RFC 2033 LMTP: LHLO.
		w.verb, w.slot, w.slotHelo, w.keyed = true, true, true, true
	case lead && strings.EqualFold(word, "account"):
		w.account, w.auth, w.keyed = true, true, true
	case lead && isAuthNote(word):
		w.auth = true
	case top && w.account && isGreeting(word):
		w.slot, w.slotHelo = true, true
	case hasPrefixFold(word, "helo="):
		p.from.exim, w.keyed = true, true
		return p.clientValue(sc, w, t, len("helo="), true)
	case hasPrefixFold(word, "ident="):
		p.from.exim, w.keyed = true, true
		return p.clientValue(sc, w, t, len("ident="), false)
	case hasPrefixFold(word, "port="):
		p.from.exim = true
	default:
		if a := afterAt(word); looksLikeAddr(a) {
			p.commentAddr(w, a, t.end-len(a), top)
		}
	}
	return nil
}

// clientValue reads a client-text value that starts skip bytes into t,
// with the words and literals glued to it: Exim's "helo=[192.0.2.9]" and
// a qmail "(HELO x[192.0.2.9])" are one value each. An empty "helo=" puts
// the value in the next item.
func (p *parser) clientValue(sc *scanner, w *commentWalk, t token, skip int, helo bool) error {
	if t.kind == tokWord && skip == len(t.text) {
		w.slot, w.slotHelo = true, helo
		return nil
	}
	end, err := sc.gluedEnd(t.end, true)
	if err != nil {
		return err
	}
	v := p.sc.s[t.start+skip : end]
	if helo {
		p.setHelo(v)
	}
	if w.verb && w.items == 2 {
		w.value, w.valueAt = v, t.start+skip
	}
	return nil
}

// endComment settles a greeting note. Only the exact form "(HELO name)"
// (or "(HELO )", for an empty argument) is one: a greeting verb followed by more, such as a reverse DNS name
// "HELO" in "(HELO [192.0.2.1] (may be forged))", may be the TCP-info,
// so its value is then counted as an address like any other.
func (p *parser) endComment(w *commentWalk) {
	if !w.verb {
		return
	}
	if w.items <= 2 && !w.nested {
		p.from.heloNote = true
		p.from.notes++
		return
	}
	if w.value != "" && (looksLikeAddr(w.value) || w.value[0] == '[') {
		p.candidate(strings.Trim(w.value, "[]"), w.valueAt, false)
	}
}

// commentAddr counts an address found in a comment. Only one at depth 1
// stands where writers put the client's address; when it is the second
// item after a plain word, that word is the client's host name.
func (p *parser) commentAddr(w *commentWalk, text string, at int, top bool) {
	p.candidate(text, at, top)
	if !top {
		return
	}
	w.takeable++
	if p.from.n == 1 && w.items == 2 && w.first.kind == tokWord && !strings.Contains(w.first.text, "=") {
		p.from.host = hostName(afterAt(w.first.text))
	}
}

// candidate counts a place that holds an address and keeps the first.
// takeable says whether a writer puts the client address there.
func (p *parser) candidate(text string, at int, takeable bool) {
	f := &p.from
	f.n++
	if f.n == 1 {
		f.cand, f.candAt, f.takeable = text, at, takeable
	}
}

func (p *parser) setHelo(v string) {
	if !p.from.heloSet {
		p.from.helo, p.from.heloSet = v, true
	}
}

// isGreeting reports whether w is an SMTP or LMTP greeting verb (RFC 5321
// §4.1.1.1, RFC 2033 §4.1).
func isGreeting(w string) bool {
	return strings.EqualFold(w, "HELO") || strings.EqualFold(w, "EHLO") || strings.EqualFold(w, "LHLO")
}

// parseAddr reads an address literal's inside (RFC 5321 §4.1.3) or a bare
// address. It accepts IPv6 with or without the "IPv6:" tag (Exim leaves it
// out), tolerates the white space Haraka leaves inside the brackets, and a
// port after an IPv4 address ("[192.0.2.1:50387]", Momentum). It rejects
// zones, since a zone names an interface of the receiver and means nothing
// to anyone else, and the unspecified and multicast addresses, which no
// TCP client can have. IPv4-mapped IPv6 addresses come back as IPv4, the
// form SPF and DNS blocklists use.
func parseAddr(s string) (netip.Addr, bool) {
	s = strings.Trim(s, " \t\r\n")
	tagged := hasPrefixFold(s, "IPv6:")
	if tagged {
		s = s[len("IPv6:"):]
	}
	var a netip.Addr
	var err error
	if strings.Count(s, ":") == 1 {
		// An IPv4 address with a port; IPv6 has at least two colons.
		// Tried first because a failed parse allocates its error.
		var ap netip.AddrPort
		ap, err = netip.ParseAddrPort(s)
		if err != nil || !ap.Addr().Is4() || tagged {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	} else if a, err = netip.ParseAddr(s); err != nil {
		return netip.Addr{}, false
	}
	if a.Zone() != "" || (tagged && !a.Is6()) {
		return netip.Addr{}, false
	}
	a = a.Unmap()
	if a.IsUnspecified() || a.IsMulticast() {
		return netip.Addr{}, false // no TCP client has such an address
	}
	return a, true
}

// looksLikeAddr reports whether a bare word is meant as an IP address: a
// dotted-decimal shape or hex with at least two colons. Such a word in the
// TCP-info comment decides the address even when it does not parse, so a
// garbled address is an error rather than skipped.
func looksLikeAddr(w string) bool {
	if hasPrefixFold(w, "IPv6:") {
		return true
	}
	if w == "" {
		return false
	}
	dots, colons, letters := 0, 0, 0
	for i := 0; i < len(w); i++ {
		switch c := w[i]; {
		case c >= '0' && c <= '9':
		case c == '.':
			dots++
		case c == ':':
			colons++
		case c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F':
			letters++
		default:
			return false
		}
	}
	if colons >= 2 {
		return true
	}
	return colons == 0 && letters == 0 && dots > 0 && w[0] != '.'
}

// afterAt drops an ident before the last "@" ("user@192.0.2.1").
func afterAt(w string) string {
	if i := strings.LastIndexByte(w, '@'); i >= 0 {
		return w[i+1:]
	}
	return w
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
