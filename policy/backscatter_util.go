package policy

import (
	"bufio"
	"bytes"
	"io"
	"net/textproto"
	"strings"

	"github.com/spoofguard/spoofguard/dnsauth/dkim"
)

// hasOwnSignatureField reports whether a returned header block holds a
// DKIM-Signature whose d= is aligned with domain. Without the body it
// cannot be verified; its presence alone keeps the bounce from being
// judged, since our own signature would be there.
func hasOwnSignatureField(block []byte, domain string) bool {
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(crlf(block), "\r\n\r\n"...))))
	h, _ := r.ReadMIMEHeader() // a broken header still yields what it read
	for _, v := range h.Values("Dkim-Signature") {
		if sig, _ := dkim.ParseSignature(v); aligned(sig.Domain, domain) {
			return true
		}
	}
	return false
}

// crlf gives every line a CRLF end, as DKIM canonicalisation expects of a
// message on the wire; returned messages in a bounce may have bare LF.
func crlf(b []byte) []byte {
	if !bytes.Contains(b, []byte("\n")) || (bytes.Count(b, []byte("\r\n")) == bytes.Count(b, []byte("\n"))) {
		return b
	}
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func firstValue(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return strings.TrimSpace(vs[0])
}

func joinComma(ss []string) string { return strings.Join(ss, ", ") }

// mostSevere picks the verdict that decides a recipient when two rules
// answered at RCPT TO.
func mostSevere(a, b Verdict) Verdict {
	if b.moreSevere(a) {
		return b
	}
	return a
}
