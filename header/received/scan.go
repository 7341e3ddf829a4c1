package received

import "strings"

// kind tells what a token is. The lexical rules follow RFC 5322 §3.2
// (comments, quoted strings, domain literals), widened where real MTAs
// write things the grammar does not foresee.
type kind uint8

const (
	tokEOF     kind = iota
	tokWord         // a run of anything that is not white space or a delimiter
	tokComment      // "(" ... ")", nested comments included
	tokLiteral      // "[" ... "]", an address literal
	tokQuoted       // `"` ... `"`
	tokAngle        // "<" ... ">", a path such as <user@example.org>
	tokSemi         // ";", which ends the clauses and starts the date
	tokOpen         // "(" inside a comment read flat (scanner.flat)
	tokClose        // ")" inside a comment read flat
)

// token is one lexical item. start and end delimit it in the scanned text,
// delimiters included; text is the item without its delimiters.
type token struct {
	kind       kind
	start, end int
	text       string
}

// scanner splits a header value into tokens in one left-to-right pass.
// Every byte is looked at a bounded number of times, so a hostile header of
// any size costs time linear in its length.
//
// A scanner may cover part of s only (pos up to lim), which is how the inside
// of a comment is read again; offsets stay those of the whole value.
type scanner struct {
	s   string
	pos int
	lim int
	// noAngleEnd is set once a search for ">" has run off the end of s:
	// no later "<" can be closed either, so no later search is made.
	noAngleEnd bool
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n'
}

// isDelim reports whether c ends a word.
func isDelim(c byte) bool {
	switch c {
	case '(', ')', '[', ']', '<', '>', '"', ';':
		return true
	}
	return isSpace(c)
}

// skipSpace moves past white space and reports whether anything is left.
func (sc *scanner) skipSpace() bool {
	for sc.pos < sc.lim && isSpace(sc.s[sc.pos]) {
		sc.pos++
	}
	return sc.pos < sc.lim
}

// next returns the next token. Folding (CRLF followed by white space) is
// plain white space here, so folded and unfolded values scan alike.
func (sc *scanner) next() (token, error) {
	if !sc.skipSpace() {
		return token{kind: tokEOF, start: sc.pos, end: sc.pos}, nil
	}
	start := sc.pos
	switch c := sc.s[start]; c {
	case '(':
		return sc.comment()
	case '[':
		return sc.closed(tokLiteral, ']', "unterminated address literal")
	case '<':
		return sc.closed(tokAngle, '>', "unterminated angle bracket")
	case '"':
		return sc.quoted()
	case ';':
		sc.pos++
		return token{kind: tokSemi, start: start, end: sc.pos}, nil
	case ')', ']', '>':
		return token{}, malformed(start, "unbalanced "+string(c))
	}
	for sc.pos < sc.lim && !isDelim(sc.s[sc.pos]) {
		sc.pos++
	}
	return token{kind: tokWord, start: start, end: sc.pos, text: sc.s[start:sc.pos]}, nil
}

// closed scans an item that ends at the first close byte: a domain literal
// (RFC 5322 dtext has no quoted-pair) or an angle-bracketed path.
func (sc *scanner) closed(k kind, close byte, why string) (token, error) {
	start := sc.pos
	i := strings.IndexByte(sc.s[start+1:sc.lim], close)
	if i < 0 {
		return token{}, malformed(start, why)
	}
	sc.pos = start + 1 + i + 1
	return token{kind: k, start: start, end: sc.pos, text: sc.s[start+1 : sc.pos-1]}, nil
}

// quoted scans a quoted string; a backslash escapes the next byte
// (RFC 5322 §3.2.1 quoted-pair).
func (sc *scanner) quoted() (token, error) {
	start := sc.pos
	for i := start + 1; i < sc.lim; i++ {
		switch sc.s[i] {
		case '\\':
			i++
		case '"':
			sc.pos = i + 1
			return token{kind: tokQuoted, start: start, end: sc.pos, text: sc.s[start+1 : i]}, nil
		}
	}
	return token{}, malformed(start, "unterminated quoted string")
}

// comment scans a comment with its nested comments (RFC 5322 §3.2.2).
//
// One widening: inside a comment an angle-bracketed path is skipped whole
// when its ">" exists. Exim writes "(envelope-from <sender>)", and a sender
// with a quoted local part may hold a ")" that would otherwise end the
// comment early and let sender-chosen text pose as trace clauses.
func (sc *scanner) comment() (token, error) {
	start := sc.pos
	depth := 0
	for i := start; i < sc.lim; i++ {
		switch sc.s[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				sc.pos = i + 1
				return token{kind: tokComment, start: start, end: sc.pos, text: sc.s[start+1 : i]}, nil
			}
		case '<':
			i = sc.skipAngle(i)
		}
	}
	return token{}, malformed(start, "unterminated comment")
}

// skipAngle returns the index of the ">" that closes the "<" at i, or i
// itself when there is none (the "<" is then plain comment text).
func (sc *scanner) skipAngle(i int) int {
	if sc.noAngleEnd {
		return i
	}
	j := strings.IndexByte(sc.s[i+1:sc.lim], '>')
	if j < 0 {
		sc.noAngleEnd = true
		return i
	}
	return i + 1 + j
}

// flat returns the next item of a comment's inside without descending
// into nested comments: their parentheses come back as tokOpen and
// tokClose, so a comment nested to any depth is read in one pass. Inside
// a comment RFC 5322 §3.2.2 knows no quoted strings or paths: '"', '<',
// '>' and ';' are ctext, read as parts of words, so a quote or an angle
// bracket opened by the client cannot hide what the MTA wrote after it.
// A backslash escapes the next byte (quoted-pair), as in comment.
func (sc *scanner) flat() (token, error) {
	if !sc.skipSpace() {
		return token{kind: tokEOF, start: sc.pos, end: sc.pos}, nil
	}
	start := sc.pos
	switch sc.s[start] {
	case '(':
		sc.pos++
		return token{kind: tokOpen, start: start, end: sc.pos}, nil
	case ')':
		sc.pos++
		return token{kind: tokClose, start: start, end: sc.pos}, nil
	case '[':
		return sc.closed(tokLiteral, ']', "unterminated address literal")
	case ']':
		return token{}, malformed(start, "unbalanced ]")
	}
	for sc.pos < sc.lim && !isFlatDelim(sc.s[sc.pos]) {
		if sc.s[sc.pos] == '\\' {
			sc.pos++
		}
		sc.pos++
	}
	if sc.pos > sc.lim {
		sc.pos = sc.lim
	}
	return token{kind: tokWord, start: start, end: sc.pos, text: sc.s[start:sc.pos]}, nil
}

// isFlatDelim reports whether c ends a word inside a comment.
func isFlatDelim(c byte) bool {
	switch c {
	case '(', ')', '[', ']':
		return true
	}
	return isSpace(c)
}

// gluedEnd returns where a value that ends at end really ends: words and
// literals written right after it, with no white space between, belong
// to it ("x?[192.0.2.1]", Postfix's rendering of "HELO x [192.0.2.1]").
// inComment selects the flat reading of a comment's inside.
func (sc *scanner) gluedEnd(end int, inComment bool) (int, error) {
	for sc.pos == end && sc.pos < sc.lim {
		if c := sc.s[sc.pos]; c != '[' && (isDelim(c) && !inComment || isFlatDelim(c)) {
			break
		}
		var t token
		var err error
		if inComment {
			t, err = sc.flat()
		} else {
			t, err = sc.next()
		}
		if err != nil {
			return 0, err
		}
		end = t.end
	}
	return end, nil
}
