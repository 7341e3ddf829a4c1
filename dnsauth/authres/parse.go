package authres

import "strings"

// Resinfo is one result an Authentication-Results field reports
// (RFC 8601 §2.2 resinfo): the method, its result and its properties.
type Resinfo struct {
	Method string // lower case, without a version: "dkim", "spf"
	Result string // lower case: "pass", "fail", ...
	// Props maps "ptype.property" (lower case) to the value, quotes
	// undone: "header.d" → "example.org", "smtp.mailfrom" →
	// "bounce@example.org"; "reason" holds the reason.
	Props map[string]string
}

// Parse reads the value of an Authentication-Results field written by
// another verifier: its authserv-id and each result. Comments are
// skipped and quoted strings read whole, so text a sender controls inside
// a comment, a reason or a quoted property (a ";", "dkim=pass") cannot
// pose as a result of its own. A result that does not read as
// method=result is left out, never guessed at; the id is "" when the
// field has none.
func Parse(value string) (id string, results []Resinfo) {
	id = AuthservID(value)
	if id == "" {
		return "", nil
	}
	parts := arResinfoParts(value)
	for _, part := range parts[1:] {
		if r, ok := parseResinfo(part); ok {
			results = append(results, r)
		}
	}
	return id, results
}

// parseResinfo reads "method[/version]=result *(name=value)".
func parseResinfo(part string) (Resinfo, bool) {
	words, ok := arWords(part)
	if !ok || len(words) < 3 || (len(words)-3)%3 != 0 {
		return Resinfo{}, false
	}
	for i := 0; i < len(words); i += 3 {
		if words[i].sign || !words[i+1].sign || words[i+2].sign {
			return Resinfo{}, false
		}
	}
	method, _, _ := strings.Cut(strings.ToLower(words[0].text), "/")
	r := Resinfo{Method: method, Result: strings.ToLower(words[2].text), Props: map[string]string{}}
	if method == "" || !arIsToken(r.Result) {
		return Resinfo{}, false
	}
	for i := 3; i < len(words); i += 3 {
		r.Props[strings.ToLower(words[i].text)] = words[i+2].text
	}
	return r, true
}

// arToken is a word of a resinfo, or the "=" between a name and its value.
type arToken struct {
	text string
	sign bool
}

// arWords splits a resinfo into words and "=" signs, after removing
// comments; a quoted string is one word (its content), and pieces glued
// together without white space ("\"a b\"@example.org") are one word.
func arWords(s string) (words []arToken, ok bool) {
	var cur strings.Builder
	glued := false
	flush := func() {
		if glued {
			words = append(words, arToken{text: cur.String()})
			cur.Reset()
			glued = false
		}
	}
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == '(' || c == ' ' || c == '\t' || c == '\r' || c == '\n':
			flush()
			if i = arSkipCFWS(s, i); i < 0 {
				return nil, false
			}
		case c == '=':
			flush()
			words = append(words, arToken{sign: true})
			i++
		case c == '"':
			q, end := arReadQuoted(s, i)
			if end < 0 {
				return nil, false
			}
			cur.WriteString(q)
			glued, i = true, end
		default:
			cur.WriteByte(c)
			glued = true
			i++
		}
	}
	flush()
	return words, true
}
