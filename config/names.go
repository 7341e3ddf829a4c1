package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// The syntax of the names and addresses a configuration holds: host and
// domain names, ports, socket paths, DNS servers, header field names.

// samePort reports whether the metrics address would take the milter's
// TCP port: the same port on the same host, or on every interface.
func samePort(ml Listen, metrics string) bool {
	mh, mp, err1 := net.SplitHostPort(ml.Address)
	h, p, err2 := net.SplitHostPort(metrics)
	if ml.Network == "unix" || err1 != nil || err2 != nil || p != mp || p == "0" {
		return false
	}
	unspecified := func(h string) bool {
		a, err := netip.ParseAddr(h)
		return h == "" || err == nil && a.IsUnspecified()
	}
	return h == mh || unspecified(h) || unspecified(mh)
}

// socketPath checks a unix socket path; sockaddr_un holds 108 bytes
// including the terminating NUL on Linux.
func socketPath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return errors.New("the socket path must be absolute")
	case strings.HasSuffix(p, "/"):
		return errors.New("the socket path names a directory")
	case strings.IndexByte(p, 0) >= 0:
		return errors.New("the socket path contains a NUL byte")
	case len(p) > 107:
		return errors.New("the socket path is longer than 107 bytes, the limit of unix sockets")
	}
	return nil
}

// hostPort checks "host:port" (host may be empty: every interface)
// and returns it in canonical form.
func hostPort(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", err
	}
	if _, err := netip.ParseAddr(host); err != nil && host != "" && !hostName(host) {
		return "", errors.New("bad host")
	}
	if !validPort(port) {
		return "", errors.New("bad port")
	}
	return net.JoinHostPort(host, port), nil
}

func validPort(s string) bool {
	if s == "" || len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return false
	}
	n, _ := strconv.Atoi(s)
	return n <= 65535
}

// hostName reports whether s is a syntactically valid host name
// (letters, digits and hyphens in dot-separated labels).
func hostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range []byte(l) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// dnsServer normalises a DNS server to ip:port. Names are refused:
// finding the resolver's own address would need a resolver.
func dnsServer(s string) (string, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a.Unmap(), 53).String(), nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Port() != 0 {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String(), nil
	}
	return "", fmt.Errorf("invalid DNS server %s: want an IP address with an optional port, such as \"192.0.2.53\", \"192.0.2.53:5353\" or \"[2001:db8::53]:53\" (a server's name would itself need DNS)", quote(s))
}

// checkAuthservID checks an RFC 8601 §2.5 authserv-id, which is an
// RFC 2045 token here (the quoted-string form is not worth the trouble).
func checkAuthservID(s string) error {
	if len(s) > 255 {
		return errors.New("the authserv-id is longer than 255 characters")
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return fmt.Errorf("%s is not a valid authserv-id (RFC 8601 §2.5): use a host name", quote(s))
		}
	}
	return nil
}

// reservedFields are header fields the verdict header must not reuse:
// writing the verdict into one of them would corrupt the message's
// identity, trace or authentication data.
var reservedFields = []string{
	"authentication-results", "arc-authentication-results", "arc-message-signature", "arc-seal",
	"bcc", "cc", "date", "dkim-signature", "from", "in-reply-to", "message-id", "received",
	"received-spf", "references", "reply-to", "return-path", "sender", "subject", "to",
}

// checkFieldName checks a header field name (RFC 5322 §3.6.8: printable
// US-ASCII except the colon).
func checkFieldName(s string) error {
	if s == "" {
		return errors.New("the verdict header needs a name, such as \"X-Spoofguard\"")
	}
	if len(s) > 64 {
		return errors.New("the header name is longer than 64 characters")
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || c == ':' {
			return fmt.Errorf("%s is not a valid header field name (RFC 5322 §3.6.8)", quote(s))
		}
	}
	if slices.Contains(reservedFields, strings.ToLower(s)) {
		return fmt.Errorf("%s is a standard header field; the verdict needs a field of its own, such as \"X-Spoofguard\"", s)
	}
	return nil
}

func octalMode(s string) bool {
	if len(s) < 3 || len(s) > 4 || strings.Trim(s, "01234567") != "" {
		return false
	}
	n, _ := strconv.ParseUint(s, 8, 32)
	return n <= 0o777
}

// simpleName accepts the names of relays and groups: letters, digits,
// '.', '_' and '-', not starting with '-' or '.'.
func simpleName(s string, max int) bool {
	if s == "" || len(s) > max || s[0] == '-' || s[0] == '.' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// idnaProfile converts names to A-labels the way a lookup would (UTS #46,
// non-transitional: "ß" stays distinct), but lets underscores through for
// names such as "_spf.filter.example"; domainName checks the rest.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.StrictDomainName(false),
	idna.CheckHyphens(false),
	idna.BidiRule(),
	idna.VerifyDNSLength(true),
)

// domainName normalises a configured domain name: lower case, no
// trailing dot, IDNs as A-labels; and refuses what cannot be a domain.
// underscore allows labels such as "_spf" (DNS names that are not hosts).
func domainName(s string, underscore bool) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("invalid domain name %s: %s", quote(s), why)
	}
	n := strings.TrimSuffix(s, ".")
	switch {
	case n == "":
		return bad("empty")
	case strings.HasPrefix(n, ".") || strings.Contains(n, ".."):
		return bad("empty label")
	}
	if _, err := netip.ParseAddr(n); err == nil {
		return bad("an IP address is not a domain name")
	}
	a, err := idnaProfile.ToASCII(n)
	if err != nil {
		return bad(strings.TrimPrefix(err.Error(), "idna: "))
	}
	a = strings.ToLower(a)
	if err := checkLabels(a, underscore); err != nil {
		return bad(err.Error())
	}
	return a, nil
}

func checkLabels(a string, underscore bool) error {
	if len(a) > 253 {
		return errors.New("longer than 253 characters")
	}
	labels := strings.Split(a, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return errors.New("each label needs 1 to 63 characters")
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("label %q starts or ends with a hyphen", l)
		}
		for _, c := range []byte(l) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' && underscore) {
				return fmt.Errorf("character %q is not allowed in a domain name", c)
			}
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return errors.New("the top-level label is all digits")
	}
	return nil
}

// publicSuffix reports whether a normalised name is a public suffix
// ("org", "co.uk", "github.io") or a single label, which no one can own.
func publicSuffix(name string) bool {
	suffix, _ := publicsuffix.PublicSuffix(name)
	return suffix == name
}

// LookupName normalises an address domain for Config.Domain. A name
// that IDNA refuses is still matched by its lower-cased text: junk in
// front of a protected domain ("bad\x00name.example.org") must count as
// that domain, the safe side, rather than escape protection.
func LookupName(s string) string {
	s = strings.TrimRight(s, ".")
	for _, c := range []byte(s) {
		if c >= 0x80 || c >= 'A' && c <= 'Z' {
			if a, err := idnaProfile.ToASCII(s); err == nil {
				return strings.ToLower(a)
			}
			return strings.ToLower(s)
		}
	}
	return s
}
