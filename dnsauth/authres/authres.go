// Package authres writes the Authentication-Results header field (RFC
// 8601) that reports every method's result: it formats ours, and
// recognising existing ones that claim our authserv-id, which must be
// removed before ours is added (RFC 8601 §5) because whoever reads the
// message trusts a field carrying that id. Parse reads the results of
// another verifier's field, for a filtering relay whose own results the
// configuration trusts.
//
// The formatter is our own: go-msgauth's authres.Format does not fold and
// cannot say header.s or policy.dmarc. Every value is quoted when RFC 8601
// §2.2 (RFC 2045 token, or local-part@domain) does not allow it bare, and
// control characters never reach the output, so text taken from a hostile
// message or DNS answer cannot add a line or a header of its own.
package authres

import (
	"strings"
	"unicode/utf8"

	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/dnsauth/dkim"
	"github.com/spoofguard/spoofguard/dnsauth/dmarc"
	"github.com/spoofguard/spoofguard/dnsauth/spf"
)

// Results is what one Authentication-Results field reports.
type Results struct {
	AuthservID string         // who did the checks (RFC 8601 §2.5), usually the host name
	SPF        *spf.Result    // the MAIL FROM identity; nil: omitted
	HELO       *spf.Result    // the HELO identity; nil: omitted
	DKIM       []dkim.Result  // one per signature; empty: dkim=none
	NoDKIM     bool           // DKIM was not evaluated: omit it rather than claim dkim=none
	DMARC      []dmarc.Result // one per From domain; empty: omitted
	AuthUser   string         // SMTP AUTH user: auth=pass smtp.auth=<user>; "": omitted
	Comment    string         // a note after the authserv-id, as a comment; "": none
	// Others are further results, written after the DKIM ones: arc, and
	// the results taken from a verifier the configuration trusts.
	Others []Other
}

// Other is one more result: "method=result (comment) name=value ...".
type Other struct {
	Method, Result string
	Comment        string   // "": none
	Props          []string // name, value pairs in order; empty values are left out
}

// The limits of the formatter.
const (
	arFoldAt     = 78 // line length to keep to (RFC 5322 §2.1.1)
	arNameWidth  = len("Authentication-Results: ")
	arMaxText    = 200 // longest reason or comment kept, in bytes
	arTspecials  = `()<>@,;:\"/[]?=`
	arLocalExtra = "!#$%&'*+-^_`{|}~" // atext allowed bare in a local-part here
)

// Format returns the value of an Authentication-Results field
// (without the field name) in RFC 8601 syntax, for example
//
//	mx.example.org;
//		spf=pass smtp.mailfrom=example.net;
//		dkim=pass header.d=example.net header.s=sel header.a=rsa-sha256
//		header.b=AbCdEfGh;
//		dmarc=pass header.from=example.net policy.dmarc=reject
//
// A value that fits on the field's first line stays on it ("mx.example.org;
// dkim=none"); otherwise each method starts a line of its own and long
// ones are folded, with CRLF and a TAB, to stay within 78 columns where the
// words allow. Non-pass results carry their reason, quoted.
func Format(ar Results) string {
	head := []arWord{arSplit("", arValue(ar.AuthservID))}
	if c := arComment(ar.Comment); c != nil {
		head = append(head, c)
	}
	infos := arResinfos(ar)
	if flat := arFlat(head, infos); arNameWidth+len(flat) <= arFoldAt {
		return flat
	}
	return arFold(head, infos)
}

// arWord is one word of the field; a quoted string or a comment is split
// at its spaces, where it may be folded.
type arWord []string

func arPlain(s string) arWord { return arWord{s} }

// arSplit is prefix and a formatted value as a word: a quoted value with
// spaces may be folded at them.
func arSplit(prefix, value string) arWord {
	w := arWord(strings.Split(value, " "))
	w[0] = prefix + w[0]
	return w
}

// arResinfos builds the results in their order: auth, spf (MAIL FROM,
// then HELO), each dkim, the others, each dmarc.
func arResinfos(ar Results) [][]arWord {
	var out [][]arWord
	if ar.AuthUser != "" {
		out = append(out, []arWord{arPlain("auth=pass"), arSplit("smtp.auth=", arPvalue(ar.AuthUser))})
	}
	if ar.SPF != nil {
		out = append(out, arSPF(ar.SPF, "smtp.mailfrom"))
	}
	if ar.HELO != nil {
		out = append(out, arSPF(ar.HELO, "smtp.helo"))
	}
	for _, d := range ar.DKIM {
		out = append(out, arDKIM(d))
	}
	if len(ar.DKIM) == 0 && !ar.NoDKIM {
		out = append(out, []arWord{arPlain("dkim=none")})
	}
	for _, o := range ar.Others {
		out = append(out, arOther(o))
	}
	for _, d := range ar.DMARC {
		out = append(out, arDMARC(d))
	}
	if len(out) == 0 {
		out = append(out, []arWord{arPlain("none")}) // RFC 8601 §2.2: no-result
	}
	return out
}

// arSPF is "spf=<result> [reason] smtp.mailfrom=<domain>" (or smtp.helo),
// RFC 8601 §2.7.2.
func arSPF(r *spf.Result, prop string) []arWord {
	words := arMethod("spf", r.Result, r.Reason)
	return arProps(words, prop, r.Domain)
}

// arDKIM is one signature's result, RFC 8601 §2.7.1 and RFC 6008: d=, i=
// when it is not the default "@"+d, s=, a= and the start of b=.
func arDKIM(r dkim.Result) []arWord {
	words := arMethod("dkim", r.Result, r.Reason)
	id := r.Identifier
	if strings.EqualFold(id, "@"+r.Domain) {
		id = ""
	}
	return arProps(words, "header.d", r.Domain, "header.i", id, "header.s", r.Selector,
		"header.a", r.Algorithm, "header.b", r.Signature)
}

// arOther is one of Results.Others. A method or result that is not a
// token is not written as one: such text came from outside.
func arOther(o Other) []arWord {
	method, result := o.Method, o.Result
	if !arIsToken(method) {
		method = "x-invalid"
	}
	if !arIsToken(result) {
		result = string(dnsauth.Neutral)
	}
	words := []arWord{arPlain(strings.ToLower(method) + "=" + strings.ToLower(result))}
	if c := arComment(o.Comment); c != nil {
		words = append(words, c)
	}
	return arProps(words, o.Props...)
}

// arDMARC is "dmarc=<result> [reason] header.from=<domain>
// policy.dmarc=<policy>": the method and header.from are RFC 7489 §11.2,
// policy.dmarc tells the policy applied to this message.
func arDMARC(r dmarc.Result) []arWord {
	words := arMethod("dmarc", r.Result, r.Reason)
	return arProps(words, "header.from", r.FromDomain, "policy.dmarc", r.Policy)
}

// arMethod is "method=result", with the reason for anything but a pass.
func arMethod(method string, r dnsauth.Result, reason string) []arWord {
	v := string(r)
	switch {
	case v == "":
		v = string(dnsauth.None)
	case !arIsToken(v):
		v = string(dnsauth.Neutral)
	}
	words := []arWord{arPlain(method + "=" + v)}
	if r != dnsauth.Pass {
		if q := arQuoted(reason); q != nil {
			q[0] = "reason=" + q[0]
			words = append(words, q)
		}
	}
	return words
}

// arProps appends "name=value" for each pair whose value is not empty.
func arProps(words []arWord, pairs ...string) []arWord {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			words = append(words, arSplit(pairs[i]+"=", arPvalue(pairs[i+1])))
		}
	}
	return words
}

// arFlat is the whole value on one line.
func arFlat(head []arWord, infos [][]arWord) string {
	var b strings.Builder
	for i, w := range head {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strings.Join(w, " "))
	}
	for _, info := range infos {
		b.WriteByte(';')
		for _, w := range info {
			b.WriteByte(' ')
			b.WriteString(strings.Join(w, " "))
		}
	}
	return b.String()
}

// arFold lays the value out over several lines: the authserv-id (and
// comment) first, then each result on a line of its own, its words filled
// greedily.
func arFold(head []arWord, infos [][]arWord) string {
	f := arFolder{col: arNameWidth}
	for i, w := range head {
		if i == len(head)-1 {
			w = arEndWith(w, ";")
		}
		f.word(w, i == 0)
	}
	for n, info := range infos {
		f.b.WriteString("\r\n\t")
		f.col = 1
		for i, w := range info {
			if i == len(info)-1 && n < len(infos)-1 {
				w = arEndWith(w, ";")
			}
			f.word(w, i == 0)
		}
	}
	return f.b.String()
}

// arEndWith is w with s added to its last piece.
func arEndWith(w arWord, s string) arWord {
	out := append(arWord(nil), w...)
	out[len(out)-1] += s
	return out
}

// arFolder writes words, breaking lines before a word (CRLF TAB) or
// inside a quoted string or comment (CRLF and the space that was there)
// when the next piece would pass arFoldAt.
type arFolder struct {
	b   strings.Builder
	col int
}

func (f *arFolder) word(w arWord, first bool) {
	for i, piece := range w {
		fits := f.col+1+len(piece) <= arFoldAt
		switch {
		case i == 0 && first:
		case i == 0 && fits:
			f.b.WriteByte(' ')
			f.col++
		case i == 0:
			f.b.WriteString("\r\n\t")
			f.col = 1
		case fits:
			f.b.WriteByte(' ')
			f.col++
		default:
			f.b.WriteString("\r\n ")
			f.col = 1
		}
		f.b.WriteString(piece)
		f.col += len(piece)
	}
}

// arIsToken reports whether s is an RFC 2045 token: printable US-ASCII
// without space or tspecials.
func arIsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !arTokenByte(s[i]) || s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// arTokenByte is a byte that may appear in a token; bytes of UTF-8
// sequences count, so that international ids are read whole.
func arTokenByte(c byte) bool {
	return c > ' ' && c != 0x7f && !strings.ContainsRune(arTspecials, rune(c))
}

// arValue is a value (RFC 2045): a token as it is, anything else quoted.
func arValue(s string) string {
	if arIsToken(s) {
		return s
	}
	return `"` + arEscape(arClean(s, 0), `"\`) + `"`
}

// arPvalue is a property value (RFC 8601 §2.2): a token, or
// [local-part] "@" domain-name, bare; anything else quoted.
func arPvalue(s string) string {
	if arIsToken(s) || arIsAddress(s) {
		return s
	}
	return arValue(s)
}

// arIsAddress reports whether s is [local-part] "@" domain-name with a
// dot-atom local part that holds nothing a lenient A-R reader could take
// for syntax ("=", "/", "?").
func arIsAddress(s string) bool {
	at := strings.LastIndexByte(s, '@')
	if at < 0 || !arIsDomain(s[at+1:]) {
		return false
	}
	local := s[:at]
	if local == "" {
		return true
	}
	for atom := range strings.SplitSeq(local, ".") {
		if atom == "" {
			return false
		}
		for i := 0; i < len(atom); i++ {
			c := atom[i]
			if !arAlnum(c) && !strings.ContainsRune(arLocalExtra, rune(c)) {
				return false
			}
		}
	}
	return true
}

// arIsDomain reports whether s is a domain name: dot-separated labels of
// letters, digits and inner hyphens.
func arIsDomain(s string) bool {
	if s == "" {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if !arAlnum(label[i]) && label[i] != '-' {
				return false
			}
		}
	}
	return true
}

func arAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// arQuoted is text as a quoted string, split at its spaces; nil for
// empty text.
func arQuoted(text string) arWord {
	text = arClean(text, arMaxText)
	if text == "" {
		return nil
	}
	w := arWord(strings.Split(arEscape(text, `"\`), " "))
	w[0] = `"` + w[0]
	w[len(w)-1] += `"`
	return w
}

// arComment is text as a comment, split at its spaces; nil for empty text.
func arComment(text string) arWord {
	text = arClean(text, arMaxText)
	if text == "" {
		return nil
	}
	w := arWord(strings.Split(arEscape(text, `()\`), " "))
	w[0] = "(" + w[0]
	w[len(w)-1] += ")"
	return w
}

// arClean makes text safe inside a header field: valid UTF-8, control
// characters (CR and LF among them) turned into spaces, runs of spaces
// made one, at most limit bytes when limit > 0 ("..." ending a cut text).
func arClean(text string, limit int) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToValidUTF8(text, "\uFFFD") {
		if r <= ' ' || r == 0x7f {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	out := b.String()
	if limit <= 0 || len(out) <= limit {
		return out
	}
	cut := max(limit-len("..."), 0)
	for cut > 0 && !utf8.RuneStart(out[cut]) {
		cut--
	}
	return strings.TrimRight(out[:cut], " ") + "..."
}

// arEscape puts a backslash before each of the special characters
// (quoted-pair, RFC 5322 §3.2.1).
func arEscape(s, special string) string {
	if !strings.ContainsAny(s, special) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(special, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// AuthservID returns the authserv-id of an Authentication-Results field
// value: the first token or quoted string after any comments and white
// space, when it ends where an authserv-id ends (white space, a comment,
// ";" or the end). It returns "" when there is none: an empty value, an
// unterminated comment or quote, or one that starts like a result
// ("spf=pass ...", as some servers write).
func AuthservID(value string) string {
	i := arSkipCFWS(value, 0)
	if i < 0 || i >= len(value) {
		return ""
	}
	if value[i] == '"' {
		id, end := arReadQuoted(value, i)
		if end < 0 || !arIDEnds(value, end) {
			return ""
		}
		return id
	}
	j := i
	for j < len(value) && arTokenByte(value[j]) {
		j++
	}
	if j == i || !arIDEnds(value, j) {
		return ""
	}
	return value[i:j]
}

// IsOwn reports whether an existing Authentication-Results
// value claims authservID (compared without regard to case or a final
// dot): such a field did not come from us and must go (RFC 8601 §5). It
// errs on the side of removal: a value too mangled to have an authserv-id
// still counts as ours when it starts with ours, and so does one that
// names ours between its results, the way Microsoft's servers place
// their own name ("spf=pass ...; outlook.com; dkim=pass ...").
func IsOwn(value, authservID string) bool {
	want := strings.TrimSuffix(authservID, ".")
	if want == "" {
		return false
	}
	same := func(id string) bool { return strings.EqualFold(strings.TrimSuffix(id, "."), want) }
	if id := AuthservID(value); id != "" {
		return same(id)
	}
	if same(arLeadingToken(value)) {
		return true
	}
	for _, part := range arResinfoParts(value) {
		if id := arLeadingToken(part); id != "" && same(id) && arSkipCFWS(part, strings.Index(part, id)+len(id)) == len(part) {
			return true
		}
	}
	return false
}

// arLeadingToken is the run of token bytes after any leading comments and
// white space.
func arLeadingToken(value string) string {
	i := max(arSkipCFWS(value, 0), 0)
	j := i
	for j < len(value) && arTokenByte(value[j]) {
		j++
	}
	return value[i:j]
}

// arResinfoParts splits a value at the semicolons that are outside
// comments and quoted strings.
func arResinfoParts(value string) []string {
	var parts []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(value); i++ {
		switch c := value[i]; {
		case c == '\\' && (depth > 0 || quoted):
			i++
		case quoted:
			quoted = c != '"'
		case c == '"' && depth == 0:
			quoted = true
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case c == ';' && depth == 0:
			parts = append(parts, value[start:i])
			start = i + 1
		}
	}
	return append(parts, value[start:])
}

// arIDEnds reports whether an authserv-id may end at i.
func arIDEnds(value string, i int) bool {
	return i == len(value) || strings.IndexByte(" \t\r\n(;", value[i]) >= 0
}

// arSkipCFWS skips white space and comments (nested, with quoted pairs)
// from i, RFC 5322 §3.2.2. It returns -1 for an unterminated comment.
func arSkipCFWS(s string, i int) int {
	depth := 0
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && depth > 0:
			i++
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0, c == ' ', c == '\t', c == '\r', c == '\n':
		default:
			return i
		}
	}
	if depth > 0 {
		return -1
	}
	return i
}

// arReadQuoted reads the quoted string starting at s[i] == '"' and
// returns its content (quoted pairs undone) and the index after it, or -1
// when it does not end.
func arReadQuoted(s string, i int) (string, int) {
	var b strings.Builder
	for i++; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), i + 1
		default:
			b.WriteByte(s[i])
		}
	}
	return "", -1
}
