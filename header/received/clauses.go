package received

import "strings"

// clause is one of the keywords after "by" (RFC 5321 §4.4 Opt-info).
type clause uint8

const (
	clNone clause = iota
	clBy
	clVia
	clWith
	clID
	clFor
)

// clauseOf returns the clause keyword w names; keywords are case-insensitive.
func clauseOf(w string) clause {
	switch {
	case strings.EqualFold(w, "with"):
		return clWith
	case strings.EqualFold(w, "id"):
		return clID
	case strings.EqualFold(w, "for"):
		return clFor
	case strings.EqualFold(w, "via"):
		return clVia
	case strings.EqualFold(w, "by"):
		return clBy
	}
	return clNone
}

// clauses reads the items after the by-domain. The first value of each
// clause wins; MTAs write things no grammar names between clauses (Exim's
// "tls TLS_AES_256_GCM_SHA384", comments), which are passed over.
type clauses struct {
	pending  clause // the keyword whose value comes next
	withFrom int    // the With words' span in the value
	withTo   int    // 0 until a With word is seen
	withOpen bool   // later words still belong to With
}

func (c *clauses) add(p *parser, t token) error {
	if t.kind == tokWord {
		if k := clauseOf(t.text); k != clNone {
			c.pending, c.withOpen = k, false
			return nil
		}
	}
	if t.kind == tokComment && c.pending != clNone {
		// CFWS between keyword and value, as in qmail's
		// "with (DHE-RSA-AES256-SHA encrypted) SMTP".
		return nil
	}
	k := c.pending
	c.pending = clNone
	switch k {
	case clWith:
		if t.kind == tokWord && c.withTo == 0 {
			c.withFrom, c.withTo, c.withOpen = t.start, t.end, true
		}
	case clID:
		if p.hop.ID == "" {
			p.hop.ID = p.itemValue(t)
		}
	case clFor:
		return p.forValue(t)
	case clNone:
		c.more(t)
	}
	return nil
}

// more extends a protocol name of several words ("Microsoft SMTP Server")
// until a comment, a keyword or Exim's "tls" cipher note ends it.
func (c *clauses) more(t token) {
	if c.withOpen && t.kind == tokWord && t.text != "tls" {
		c.withTo = t.end
		return
	}
	c.withOpen = false
}

// finish stores With and what it says about authentication.
func (c *clauses) finish(p *parser) {
	if c.withTo == 0 {
		return
	}
	p.hop.With = oneSpaced(p.sc.s[c.withFrom:c.withTo])
	p.hop.Authenticated = isAuthProtocol(firstWord(p.hop.With))
}

// isAuthProtocol reports whether a with-protocol says the client used SMTP
// AUTH: RFC 3848 §2 (ESMTPA, ESMTPSA, LMTPA, LMTPSA) and RFC 6531 §3.7.3
// (the UTF8 variants).
func isAuthProtocol(w string) bool {
	for _, name := range [...]string{
		"ESMTPA", "ESMTPSA", "LMTPA", "LMTPSA",
		"UTF8SMTPA", "UTF8SMTPSA", "UTF8LMTPA", "UTF8LMTPSA",
	} {
		if strings.EqualFold(w, name) {
			return true
		}
	}
	return false
}

// itemValue is the text of a clause value: a word, or the inside of a path
// "<...>", a quoted string or a literal.
func (p *parser) itemValue(t token) string {
	switch t.kind {
	case tokWord:
		return t.text
	case tokAngle:
		return strings.Trim(t.text, " \t\r\n")
	case tokQuoted, tokLiteral:
		return p.sc.s[t.start:t.end]
	}
	return ""
}

// forValue stores the recipient: "for <a@b>" (Postfix), "for a@b" (Exim),
// or a quoted local part glued to its domain: "for "a b"@example.org".
func (p *parser) forValue(t token) error {
	if p.hop.For != "" {
		return nil
	}
	if t.kind != tokQuoted {
		p.hop.For = p.itemValue(t)
		return nil
	}
	u, err := p.next()
	if err != nil {
		return err
	}
	if u.kind == tokWord && u.start == t.end && strings.HasPrefix(u.text, "@") {
		p.hop.For = p.sc.s[t.start:u.end]
		return nil
	}
	p.unread(u)
	p.hop.For = p.itemValue(t)
	return nil
}

// oneSpaced folds runs of white space (a folded header) into one space; it
// allocates only when there is something to fold.
func oneSpaced(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' && isSpace(s[i]) || s[i] == ' ' && i+1 < len(s) && s[i+1] == ' ' {
			return foldSpaces(s)
		}
	}
	return s
}

// foldSpaces is oneSpaced's slow path. White space is what the scanner
// splits words at (isSpace), never the Unicode spaces strings.Fields
// knows: a U+0085 or U+00A0 inside a protocol name stays, folded or not.
func foldSpaces(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	gap := false
	for i := 0; i < len(s); i++ {
		if isSpace(s[i]) {
			gap = b.Len() > 0
			continue
		}
		if gap {
			b.WriteByte(' ')
			gap = false
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
