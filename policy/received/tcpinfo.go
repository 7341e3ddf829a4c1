package received

import (
	"net/netip"
	"strings"
)

// tcpInfo reads the TCP-info comment between from and to (the comment's
// inside). Its shapes, by writer:
//
//	host.example.net [192.0.2.1]            Postfix, Sendmail, Google, Proofpoint, ...
//	unknown [IPv6:2001:db8::1]              Postfix without reverse DNS
//	user@host.example.net [192.0.2.1]       Sendmail with an RFC 1413 ident
//	host.example.net [192.0.2.1] (may be forged)
//	[192.0.2.1]:52344 helo=name             Exim, with port logging
//	port=52344 helo=name                    Exim, when the from-domain is [ip]
//	192.0.2.1 / 2603:10b6:408:1::12         Exchange, qmail: no brackets
//	user@192.0.2.1                          qmail with an ident
//
// The first address decides; a name right before it is the host name.
func (p *parser) tcpInfo(from, to int) error {
	p.from.tcpSeen = true
	return p.commentItems(from, to, true)
}

// tcpInfoHeloOnly reads a comment that may carry "HELO name" but whose
// addresses, if any, are not the client's.
func (p *parser) tcpInfoHeloOnly(t token) error {
	return p.commentItems(t.start+1, t.end-1, false)
}

// commentItems walks the items of a comment's inside. Nested comments
// ("(may be forged)") are skipped whole, so each byte is read at most twice.
func (p *parser) commentItems(from, to int, addrs bool) error {
	sc := scanner{s: p.sc.s, pos: from, lim: to}
	var first token
	expectHelo := false
	for n := 0; ; n++ {
		t, err := sc.next()
		if err != nil {
			return err
		}
		if t.kind == tokEOF {
			return nil
		}
		if n == 0 {
			first = t
		}
		if expectHelo && (t.kind == tokWord || t.kind == tokLiteral) {
			p.setHelo(p.sc.s[t.start:t.end])
			expectHelo = false
			continue
		}
		expectHelo = false
		switch t.kind {
		case tokWord:
			expectHelo = p.commentWord(t, n, first, addrs)
		case tokLiteral:
			if addrs {
				p.tcpAddr(t.text, t.start+1, n, first)
			}
		}
	}
}

// commentWord handles one word of a from-clause comment. It reports whether
// the next item is a HELO name.
func (p *parser) commentWord(t token, n int, first token, addrs bool) bool {
	w := t.text
	switch {
	case hasPrefixFold(w, "helo="):
		// Exim: "helo=name", or "helo=" glued to a literal "[192.0.2.9]".
		p.from.exim = true
		if v := w[len("helo="):]; v != "" {
			p.setHelo(v)
			return false
		}
		return true
	case hasPrefixFold(w, "port=") || hasPrefixFold(w, "ident="):
		p.from.exim = true
	case strings.EqualFold(w, "HELO") || strings.EqualFold(w, "EHLO"):
		return true
	case addrs && looksLikeAddr(afterAt(w)):
		a := afterAt(w)
		p.tcpAddr(a, t.end-len(a), n, first)
	}
	return false
}

// tcpAddr takes the address of the TCP-info comment unless one was found
// already; when it is the second item and the first was a plain word, that
// word is the client's host name.
func (p *parser) tcpAddr(text string, at, n int, first token) {
	if p.from.src != srcNone || p.from.bad != nil {
		return
	}
	p.takeAddr(text, at, srcTCPInfo)
	if p.from.src == srcTCPInfo && n == 1 && first.kind == tokWord && !strings.Contains(first.text, "=") {
		p.from.host = hostName(afterAt(first.text))
	}
}

func (p *parser) setHelo(v string) {
	if !p.from.heloSet {
		p.from.helo, p.from.heloSet = v, true
	}
}

// takeAddr records the client address, or why the item where it belongs
// is not one. Either way the decision is final.
func (p *parser) takeAddr(text string, at int, src source) {
	ip, ok := parseAddr(text)
	if !ok {
		p.from.bad = newError(ErrBadIP, at, quoteDetail(text))
		return
	}
	p.from.ip, p.from.src = ip, src
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
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil || !ap.Addr().Is4() || tagged {
			return netip.Addr{}, false
		}
		a = ap.Addr()
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
