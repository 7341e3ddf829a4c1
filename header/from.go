package header

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
