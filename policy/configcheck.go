package policy

// Validation of a decoded configuration. Each check reports through the
// decoder, which knows where every key was written; checks on values that
// already failed to decode are suppressed there. Normalisation happens
// here too, so the engine only ever sees canonical names.

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// cfgValidate checks every value of c, fills in the defaults that depend
// on other keys, and normalises names.
func cfgValidate(d *cfgDecoder, c *Config) {
	v := &cfgChecker{d: d, c: c}
	v.milter()
	v.log()
	v.metrics()
	v.dns()
	v.networks()
	v.relays()
	v.domains()
	v.dmarc()
	v.action("spf.on_fail", c.SPF.OnFail, nil)
	v.intIn("dkim.max_signatures", c.DKIM.MaxSignatures, 1, 64)
	v.allow()
}

type cfgChecker struct {
	d *cfgDecoder
	c *Config
}

func (v *cfgChecker) report(path, format string, args ...any) {
	v.d.report(path, format, args...)
}

func (v *cfgChecker) milter() {
	m := &v.c.Milter
	if _, err := ParseListen(m.Listen); err != nil {
		v.report("milter.listen", "%v", err)
	}
	if m.AuthservID == "" {
		m.AuthservID = cfgHostname()
	} else if err := cfgCheckAuthservID(m.AuthservID); err != nil {
		v.report("milter.authserv_id", "%v", err)
	}
	v.mode("milter.mode", m.Mode)
	if !cfgOctalMode(m.SocketMode) {
		v.report("milter.socket_mode", "invalid permissions %s: want an octal string such as \"0660\"", cfgQuote(m.SocketMode))
	}
	if m.SocketGroup != "" && !cfgSimpleName(m.SocketGroup, 32) {
		v.report("milter.socket_group", "invalid group name %s", cfgQuote(m.SocketGroup))
	}
	if err := cfgCheckFieldName(m.VerdictHeader); err != nil {
		v.report("milter.verdict_header", "%v", err)
	}
	v.durationIn("milter.drain_timeout", m.DrainTimeout, 0, time.Hour, "between 0s and 1h")
	v.intIn("milter.max_sessions", m.MaxSessions, 0, 100_000)
}

func (v *cfgChecker) log() {
	v.oneOf("log.level", "log level", v.c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", "log format", v.c.Log.Format, "text", "json")
	v.oneOf("log.output", "log output", v.c.Log.Output, "stderr", "syslog")
}

func (v *cfgChecker) metrics() {
	l := v.c.Metrics.Listen
	if l == "" {
		return
	}
	addr, err := cfgHostPort(l)
	if err != nil {
		v.report("metrics.listen", "invalid listen address %s: want HOST:PORT such as \"127.0.0.1:9891\"", cfgQuote(l))
		return
	}
	if ml, err := ParseListen(v.c.Milter.Listen); err == nil && cfgSamePort(ml, addr) {
		v.report("metrics.listen", "%s is also milter.listen (%s); the two need different ports", addr, ml)
	}
}

func (v *cfgChecker) dns() {
	c := &v.c.DNS
	for i, s := range c.Servers {
		if norm, err := cfgDNSServer(s); err != nil {
			v.report(cfgIndex("dns.servers", i), "%v", err)
		} else {
			c.Servers[i] = norm
		}
	}
	v.durationIn("dns.timeout", c.Timeout, time.Millisecond, time.Minute, "between 1ms and 1m")
	v.intIn("dns.attempts", c.Attempts, 1, 10)
	v.intIn("dns.cache_size", c.CacheSize, 0, 10_000_000)
	v.action("dns.on_temperror", c.OnTemperror, map[Action]string{
		ActionReject: "a DNS failure (timeout, SERVFAIL) is temporary and says nothing about the message, " +
			"so it must never become a permanent reject; use tempfail (the sender retries later), quarantine or accept",
	})
}

func (v *cfgChecker) networks() {
	n := &v.c.Networks
	v.notEverything("networks.trusted", n.Trusted, "every client would be trusted and skip all checks")
	v.notEverything("networks.outbound", n.Outbound, "every client could send as your protected domains unchecked")
	v.notEverything("networks.internal", n.Internal, "mail an outbound server takes from the Internet would never be checked")
}

// notEverything refuses a /0 in a list whose members are exempt from
// checks: it would switch the product off without saying so.
func (v *cfgChecker) notEverything(path string, nets []Network, why string) {
	for i, n := range nets {
		if n.IsValid() && n.Bits() == 0 {
			v.report(cfgIndex(path, i), "%s covers every address: %s", n, why)
		}
	}
}

func (v *cfgChecker) relays() {
	first := map[string]int{}
	for i := range v.c.Relays {
		r := &v.c.Relays[i]
		p := cfgIndex("relay", i)
		v.relayName(p, i, r.Name, first)
		if len(r.Networks) == 0 && len(r.SPF) == 0 {
			v.report(p, "relay %s has neither networks nor spf: nothing could be recognised as coming through it", cfgQuote(r.Name))
		}
		v.notEverything(p+".networks", r.Networks,
			"every client would count as this relay, and the Received header it \"added\", which anyone can write, would choose the address that gets checked")
		v.relayOverlaps(p+".networks", r.Networks)
		v.domainNames(p+".spf", r.SPF, true)
		v.intIn(p+".hops", r.Hops, 1, 10)
		v.action(p+".trace_error", r.TraceError, nil)
		v.relayTrust(p, r)
	}
}

func (v *cfgChecker) relayName(p string, i int, name string, first map[string]int) {
	switch j, dup := first[name]; {
	case name == "":
		v.report(p+".name", "required: every [[relay]] needs a name for domain.via to refer to")
	case !cfgSimpleName(name, 64):
		v.report(p+".name", "invalid relay name %s: use letters, digits, '.', '_' and '-'", cfgQuote(name))
	case dup:
		v.report(p+".name", "duplicate relay name %s (first at line %d)", cfgQuote(name), v.d.line(cfgIndex("relay", j)))
	default:
		first[name] = i
	}
}

// relayOverlaps refuses relay addresses that an earlier client class
// already claims. Classification takes the first match (trusted, then
// outbound, then relay), so mail through such a relay would silently skip
// the checks it is supposed to get: the "trusted relay open to the
// Internet" back door.
func (v *cfgChecker) relayOverlaps(path string, nets []Network) {
	classes := []struct {
		key  string
		nets []Network
		why  string
	}{
		{"networks.trusted", v.c.Networks.Trusted, "trusted clients skip every check"},
		{"networks.outbound", v.c.Networks.Outbound, "outbound clients may send as the protected domains unchecked"},
	}
	for i, n := range nets {
		if !n.IsValid() {
			continue
		}
		for _, cl := range classes {
			if o, ok := cfgOverlap(n.Prefix, cl.nets); ok {
				v.report(cfgIndex(path, i), "%s overlaps %s %s, which is matched first: %s, so mail through this relay from there would never be checked", n, cl.key, o, cl.why)
				break
			}
		}
	}
}

func cfgOverlap(p netip.Prefix, nets []Network) (netip.Prefix, bool) {
	for _, n := range nets {
		if n.IsValid() && n.Overlaps(p) {
			return n.Prefix, true
		}
	}
	return netip.Prefix{}, false
}

func (v *cfgChecker) domains() {
	first := map[string]int{}
	for i := range v.c.Domains {
		dm := &v.c.Domains[i]
		p := cfgIndex("domain", i)
		v.domainName(p+".name", dm, i, first)
		if dm.Subdomains == nil {
			dm.Subdomains = cfgBool(true)
		}
		v.via(p+".via", dm.Via)
		if dm.Mode != "" {
			v.mode(p+".mode", dm.Mode)
		}
		v.action(p+".direct_delivery", dm.DirectDelivery, nil)
		v.action(p+".envelope_forgery", dm.EnvelopeForgery, nil)
		v.action(p+".header_forgery", dm.HeaderForgery, nil)
		v.impersonation(p, dm)
	}
}

func (v *cfgChecker) domainName(path string, dm *DomainConfig, i int, first map[string]int) {
	if dm.Name == "" {
		v.report(path, "required: every [[domain]] needs the name of the domain it protects")
		return
	}
	norm, err := cfgDomainName(dm.Name, false)
	if err != nil {
		v.report(path, "%v", err)
		return
	}
	if cfgPublicSuffix(norm) {
		v.report(path, "%s is a public suffix, not a domain of yours: protecting it would treat mail from every domain under it as your own", norm)
		return
	}
	if j, dup := first[norm]; dup {
		v.report(path, "duplicate domain %s (first at line %d)", norm, v.d.line(cfgIndex("domain", j)))
		return
	}
	first[norm] = i
	dm.Name = norm
}

func (v *cfgChecker) via(path, via string) {
	if via == "" || v.c.Relay(via) != nil {
		return
	}
	var names []string
	for _, r := range v.c.Relays {
		if q := strconv.Quote(r.Name); r.Name != "" && !slices.Contains(names, q) {
			names = append(names, q)
		}
	}
	if len(names) == 0 {
		v.report(path, "no [[relay]] is named %s (none is configured); add one, or set via = \"\" for a domain whose MX is this server", cfgQuote(via))
		return
	}
	v.report(path, "no [[relay]] is named %s; configured relays: %s", cfgQuote(via), strings.Join(names, ", "))
}

func (v *cfgChecker) dmarc() {
	c := &v.c.DMARC
	if c.Enabled == nil {
		c.Enabled = cfgBool(true)
	}
	v.action("dmarc.on_reject", c.OnReject, nil)
	v.action("dmarc.on_quarantine", c.OnQuarantine, nil)
}

func (v *cfgChecker) allow() {
	a := &v.c.Allow
	v.notEverything("allow.networks", a.Networks, "every client would be exempt from DMARC and SPF; set dmarc.enabled = false if that is the intent")
	v.domainNames("allow.sender_domains", a.SenderDomains, false)
	v.domainNames("allow.dkim_domains", a.DKIMDomains, false)
	v.allowDomains("allow.sender_domains", a.SenderDomains)
	v.allowDomains("allow.dkim_domains", a.DKIMDomains)
}

// allowDomains refuses allow-list entries that touch a protected domain.
// An entry covers its subdomains, so a parent of a protected domain is
// refused as well as the domain itself and the subdomains it protects.
// The spec is firm: allow-listing the own domain is door number two for
// forged mail, because forgers write exactly that domain as the sender.
func (v *cfgChecker) allowDomains(path string, names []string) {
	idx := newCfgDomainIndex(v.c.Domains)
	for i, name := range names {
		if why, d := idx.overlap(v.c.Domains, name); why != "" {
			v.report(cfgIndex(path, i), "%s ([[domain]] at line %d): allow-listing it would let exactly the forged mail through, "+
				"since forgers write the protected domain as the sender; authorise its real senders with SPF, DKIM or networks.outbound instead",
				why, v.d.line(cfgIndex("domain", d)))
		}
	}
}

// cfgDomainIndex finds protected domains related to a name in time linear
// in the name's labels, so that long lists on both sides stay cheap.
type cfgDomainIndex struct {
	exact   map[string]int // protected name → index of its [[domain]]
	parents map[string]int // every proper parent of a protected name → one such [[domain]]
}

func newCfgDomainIndex(domains []DomainConfig) cfgDomainIndex {
	idx := cfgDomainIndex{exact: map[string]int{}, parents: map[string]int{}}
	for i, d := range domains {
		if _, dup := idx.exact[d.Name]; d.Name == "" || dup {
			continue
		}
		idx.exact[d.Name] = i
		for p := cfgParentDomain(d.Name); p != ""; p = cfgParentDomain(p) {
			if _, ok := idx.parents[p]; !ok {
				idx.parents[p] = i
			}
		}
	}
	return idx
}

// overlap explains how name touches a protected domain, and which one.
func (idx cfgDomainIndex) overlap(domains []DomainConfig, name string) (string, int) {
	if i, ok := idx.exact[name]; ok {
		return name + " is a protected domain", i
	}
	for p := cfgParentDomain(name); p != ""; p = cfgParentDomain(p) {
		if i, ok := idx.exact[p]; ok && domains[i].IncludesSubdomains() {
			return fmt.Sprintf("%s is protected as a subdomain of %s", name, p), i
		}
	}
	if i, ok := idx.parents[name]; ok {
		return fmt.Sprintf("%s contains the protected domain %s", name, domains[i].Name), i
	}
	return "", 0
}

// cfgParentDomain strips the first label ("" for a single label).
func cfgParentDomain(name string) string {
	_, parent, _ := strings.Cut(name, ".")
	return parent
}

// domainNames normalises a list of domain names in place. Mail and DKIM
// domains are host names (RFC 5321 §4.1.2, RFC 6376 §3.5); only the SPF
// record names of a relay may have underscore labels, such as
// "_spf.filter.example".
func (v *cfgChecker) domainNames(path string, names []string, underscore bool) {
	for i, s := range names {
		p := cfgIndex(path, i)
		norm, err := cfgDomainName(s, underscore)
		switch {
		case err != nil:
			v.report(p, "%v", err)
		case strings.HasPrefix(path, "allow.") && cfgPublicSuffix(norm):
			v.report(p, "%s is a public suffix: allow-listing it would exempt every domain under it", norm)
		default:
			names[i] = norm
		}
	}
}

func (v *cfgChecker) mode(path string, m Mode) {
	v.oneOf(path, "mode", string(m), string(ModeEnforce), string(ModeReportOnly))
}

// action checks an action, refusing those that make no sense for the key
// (refused maps them to the reason).
func (v *cfgChecker) action(path string, a Action, refused map[Action]string) {
	if !v.oneOf(path, "action", string(a), string(ActionAccept), string(ActionReject), string(ActionQuarantine), string(ActionTempFail)) {
		return
	}
	if why, ok := refused[a]; ok {
		v.report(path, "%q is not allowed here: %s", a, why)
	}
}

func (v *cfgChecker) oneOf(path, what, got string, choices ...string) bool {
	if slices.Contains(choices, got) {
		return true
	}
	quoted := make([]string, len(choices))
	for i, c := range choices {
		quoted[i] = strconv.Quote(c)
	}
	v.report(path, "unknown %s %s: want %s", what, cfgQuote(got), cfgChoices(quoted))
	return false
}

func (v *cfgChecker) intIn(path string, n, lo, hi int) {
	if n < lo || n > hi {
		v.report(path, "%d is out of range: want %d to %d", n, lo, hi)
	}
}

func (v *cfgChecker) durationIn(path string, d Duration, lo, hi time.Duration, want string) {
	if d.Duration < lo || d.Duration > hi {
		v.report(path, "%s is out of range: want %s", d.Duration, want)
	}
}

// cfgChoices joins "a", "b" and "c" as "a, b or c".
func cfgChoices(s []string) string {
	if len(s) <= 1 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// cfgSamePort reports whether the metrics address would take the milter's
// TCP port: the same port on the same host, or on every interface.
func cfgSamePort(ml ListenAddr, metrics string) bool {
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

// cfgSocketPath checks a unix socket path; sockaddr_un holds 108 bytes
// including the terminating NUL on Linux.
func cfgSocketPath(p string) error {
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

// cfgHostPort checks "host:port" (host may be empty: every interface)
// and returns it in canonical form.
func cfgHostPort(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", err
	}
	if _, err := netip.ParseAddr(host); err != nil && host != "" && !cfgHostName(host) {
		return "", errors.New("bad host")
	}
	if !cfgPort(port) {
		return "", errors.New("bad port")
	}
	return net.JoinHostPort(host, port), nil
}

func cfgPort(s string) bool {
	if s == "" || len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return false
	}
	n, _ := strconv.Atoi(s)
	return n <= 65535
}

// cfgHostName reports whether s is a syntactically valid host name
// (letters, digits and hyphens in dot-separated labels).
func cfgHostName(s string) bool {
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

// cfgDNSServer normalises a DNS server to ip:port. Names are refused:
// finding the resolver's own address would need a resolver.
func cfgDNSServer(s string) (string, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a.Unmap(), 53).String(), nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Port() != 0 {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String(), nil
	}
	return "", fmt.Errorf("invalid DNS server %s: want an IP address with an optional port, such as \"192.0.2.53\", \"192.0.2.53:5353\" or \"[2001:db8::53]:53\" (a server's name would itself need DNS)", cfgQuote(s))
}

// cfgCheckAuthservID checks an RFC 8601 §2.5 authserv-id, which is an
// RFC 2045 token here (the quoted-string form is not worth the trouble).
func cfgCheckAuthservID(s string) error {
	if len(s) > 255 {
		return errors.New("the authserv-id is longer than 255 characters")
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return fmt.Errorf("%s is not a valid authserv-id (RFC 8601 §2.5): use a host name", cfgQuote(s))
		}
	}
	return nil
}

// cfgReservedFields are header fields the verdict header must not reuse:
// writing the verdict into one of them would corrupt the message's
// identity, trace or authentication data.
var cfgReservedFields = []string{
	"authentication-results", "arc-authentication-results", "arc-message-signature", "arc-seal",
	"bcc", "cc", "date", "dkim-signature", "from", "in-reply-to", "message-id", "received",
	"received-spf", "references", "reply-to", "return-path", "sender", "subject", "to",
}

// cfgCheckFieldName checks a header field name (RFC 5322 §3.6.8: printable
// US-ASCII except the colon).
func cfgCheckFieldName(s string) error {
	if s == "" {
		return errors.New("the verdict header needs a name, such as \"X-Spoofguard\"")
	}
	if len(s) > 64 {
		return errors.New("the header name is longer than 64 characters")
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || c == ':' {
			return fmt.Errorf("%s is not a valid header field name (RFC 5322 §3.6.8)", cfgQuote(s))
		}
	}
	if slices.Contains(cfgReservedFields, strings.ToLower(s)) {
		return fmt.Errorf("%s is a standard header field; the verdict needs a field of its own, such as \"X-Spoofguard\"", s)
	}
	return nil
}

func cfgOctalMode(s string) bool {
	if len(s) < 3 || len(s) > 4 || strings.Trim(s, "01234567") != "" {
		return false
	}
	n, _ := strconv.ParseUint(s, 8, 32)
	return n <= 0o777
}

// cfgSimpleName accepts the names of relays and groups: letters, digits,
// '.', '_' and '-', not starting with '-' or '.'.
func cfgSimpleName(s string, max int) bool {
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

// cfgIDNA converts names to A-labels the way a lookup would (UTS #46,
// non-transitional: "ß" stays distinct), but lets underscores through for
// names such as "_spf.filter.example"; cfgDomainName checks the rest.
var cfgIDNA = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.StrictDomainName(false),
	idna.CheckHyphens(false),
	idna.BidiRule(),
	idna.VerifyDNSLength(true),
)

// cfgDomainName normalises a configured domain name: lower case, no
// trailing dot, IDNs as A-labels; and refuses what cannot be a domain.
// underscore allows labels such as "_spf" (DNS names that are not hosts).
func cfgDomainName(s string, underscore bool) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("invalid domain name %s: %s", cfgQuote(s), why)
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
	a, err := cfgIDNA.ToASCII(n)
	if err != nil {
		return bad(strings.TrimPrefix(err.Error(), "idna: "))
	}
	a = strings.ToLower(a)
	if err := cfgCheckLabels(a, underscore); err != nil {
		return bad(err.Error())
	}
	return a, nil
}

func cfgCheckLabels(a string, underscore bool) error {
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

// cfgPublicSuffix reports whether a normalised name is a public suffix
// ("org", "co.uk", "github.io") or a single label, which no one can own.
func cfgPublicSuffix(name string) bool {
	suffix, _ := publicsuffix.PublicSuffix(name)
	return suffix == name
}

// cfgLookupName normalises an address domain for Config.Domain. A name
// that IDNA refuses is still matched by its lower-cased text: junk in
// front of a protected domain ("bad\x00name.example.org") must count as
// that domain, the safe side, rather than escape protection.
func cfgLookupName(s string) string {
	s = strings.TrimRight(s, ".")
	for _, c := range []byte(s) {
		if c >= 0x80 || c >= 'A' && c <= 'Z' {
			if a, err := cfgIDNA.ToASCII(s); err == nil {
				return strings.ToLower(a)
			}
			return strings.ToLower(s)
		}
	}
	return s
}
