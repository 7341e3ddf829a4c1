package arc

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spoofguard/spoofguard/dnsauth"
)

// AuthResult is one resinfo of an ARC-Authentication-Results field
// (RFC 8601 §2.2): a method, its result, the reason and the properties.
type AuthResult struct {
	Method string         // lower-case: "spf", "dkim", "dmarc", …
	Result dnsauth.Result // lower-case as written: "pass", "fail", …
	Reason string
	// Props maps "ptype.property" (lower-case, e.g. "header.d",
	// "header.i", "smtp.mailfrom") to its value as written.
	Props map[string]string
}

// Prop returns a property's value ("" when absent).
func (r AuthResult) Prop(name string) string { return r.Props[name] }

// maxResinfos bounds the results kept from one field.
const maxResinfos = 64

// aarInstance reads the instance tag that starts an
// ARC-Authentication-Results value: "i=" instance ";" (RFC 8617 §4.1.1).
// It returns the rest of the value, the RFC 8601 payload.
func aarInstance(value string) (int, string, error) {
	v := strings.TrimLeft(value, " \t\r\n")
	if !strings.HasPrefix(v, "i") {
		return 0, "", errors.New("ARC-Authentication-Results does not start with i=")
	}
	v = strings.TrimLeft(v[1:], " \t\r\n")
	if !strings.HasPrefix(v, "=") {
		return 0, "", errors.New("ARC-Authentication-Results does not start with i=")
	}
	num, rest, ok := strings.Cut(v[1:], ";")
	if !ok {
		return 0, "", errors.New("no ';' after i= in ARC-Authentication-Results")
	}
	n, err := parseInstance(trimFWS(num))
	return n, rest, err
}

// parseAuthResults reads an RFC 8601 payload: the authserv-id, an
// optional version, then "none" or resinfos. What was read before a
// syntax error is returned with the error.
func parseAuthResults(payload string) (string, []AuthResult, error) {
	l := &arLexer{s: payload}
	id := l.value()
	if id == "" {
		return "", nil, errors.New("no authserv-id")
	}
	if l.skip(); l.more() && l.peek() != ';' {
		l.word(false) // authres-version
	}
	var out []AuthResult
	for l.skip(); l.more(); l.skip() {
		if l.peek() != ';' {
			return id, out, fmt.Errorf("unexpected %q", clip(l.s[l.i:]))
		}
		l.i++
		r, none, err := l.resinfo()
		if err != nil || none {
			return id, out, err
		}
		if len(out) == maxResinfos {
			return id, out, fmt.Errorf("over %d results", maxResinfos)
		}
		out = append(out, r)
	}
	return id, out, nil
}

// resinfo reads methodspec [reasonspec] *propspec after its ";". none
// is true for the no-result form "; none".
func (l *arLexer) resinfo() (AuthResult, bool, error) {
	l.skip()
	method := strings.ToLower(l.word(true))
	if l.skip(); method == "none" && (!l.more() || l.peek() != '=') {
		return AuthResult{}, true, nil
	}
	method, _, _ = strings.Cut(method, "/") // method-version
	if method == "" || !l.eat('=') {
		return AuthResult{}, false, errors.New("bad methodspec")
	}
	l.skip()
	r := AuthResult{Method: method, Result: dnsauth.Result(strings.ToLower(l.word(true)))}
	if r.Result == "" {
		return r, false, fmt.Errorf("no result for %s", clip(method))
	}
	for l.skip(); l.more() && l.peek() != ';'; l.skip() {
		name := strings.ToLower(l.word(true))
		if l.skip(); name == "" || !l.eat('=') {
			return r, false, fmt.Errorf("bad property in %s result", clip(method))
		}
		l.skip()
		val := l.value()
		if name == "reason" {
			r.Reason = val
			continue
		}
		if r.Props == nil {
			r.Props = make(map[string]string, 2)
		}
		r.Props[name] = val
	}
	return r, false, nil
}

// arLexer reads the tokens of an Authentication-Results payload.
type arLexer struct {
	s string
	i int
}

func (l *arLexer) more() bool { return l.i < len(l.s) }
func (l *arLexer) peek() byte { return l.s[l.i] }

func (l *arLexer) eat(c byte) bool {
	if l.more() && l.s[l.i] == c {
		l.i++
		return true
	}
	return false
}

// skip passes over CFWS: white space, line breaks and (nested) comments.
func (l *arLexer) skip() {
	depth := 0
	for ; l.more(); l.i++ {
		switch c := l.s[l.i]; {
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case c == '\\' && depth > 0 && l.i+1 < len(l.s):
			l.i++
		case depth == 0 && !isFWSByte(c):
			return
		}
	}
}

// word reads a run of characters up to white space or a special; with
// name, "=" ends it too (a value such as a base64 header.b may hold "=").
func (l *arLexer) word(name bool) string {
	start := l.i
	for ; l.more(); l.i++ {
		c := l.s[l.i]
		if isFWSByte(c) || c == ';' || c == '(' || c == ')' || c == '"' || name && c == '=' {
			break
		}
	}
	return l.s[start:l.i]
}

// value reads a token or a quoted-string (RFC 2045 value), unquoted.
func (l *arLexer) value() string {
	l.skip()
	if !l.eat('"') {
		return l.word(false)
	}
	var b strings.Builder
	for ; l.more(); l.i++ {
		switch c := l.s[l.i]; {
		case c == '"':
			l.i++
			return b.String()
		case c == '\\' && l.i+1 < len(l.s):
			l.i++
			b.WriteByte(l.s[l.i])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
