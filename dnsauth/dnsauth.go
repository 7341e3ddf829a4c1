// Package dnsauth answers the question "who really sent this message?" for
// spoofguard. It holds the one caching DNS resolver the whole daemon shares,
// and the sender-authentication methods built on it: SPF (RFC 7208), DKIM
// (RFC 6376, RFC 8463), DMARC (RFC 7489 with the DMARCbis tree walk) with
// the organizational domain taken from the Public Suffix List, and the
// Authentication-Results header (RFC 8601) that reports all of them.
//
// Every method resolves names through the DNS interface below, whose shape
// matches what blitiri.com.ar/go/spf and emersion/go-msgauth expect. Errors
// crossing that interface are bare *net.DNSError values, because those
// libraries tell a temporary failure (temperror) from a missing name
// (none/permerror) by a plain type assertion.
package dnsauth

import (
	"context"
	"net"
	"net/netip"
)

// Result is the outcome of one authentication method, spelled as in
// Authentication-Results (RFC 8601 §2.7).
type Result string

// The result values shared by SPF, DKIM and DMARC. Not every method uses
// every value: SoftFail and Neutral are SPF only, Policy is DKIM only.
const (
	None      Result = "none"
	Pass      Result = "pass"
	Fail      Result = "fail"
	SoftFail  Result = "softfail"
	Neutral   Result = "neutral"
	TempError Result = "temperror"
	PermError Result = "permerror"
	Policy    Result = "policy"
)

// DNS is the resolver interface every method uses. *Resolver implements it;
// its method set is the one blitiri.com.ar/go/spf calls.
type DNS interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// errNotFound is the error for NXDOMAIN: a permanent absence.
func errNotFound(name string) *net.DNSError {
	return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// errTemporary is the error for SERVFAIL, REFUSED, timeouts and network
// failures: a temporary condition that must never become a reject.
func errTemporary(name, reason string, timeout bool) *net.DNSError {
	return &net.DNSError{Err: reason, Name: name, IsTemporary: true, IsTimeout: timeout}
}

// IsTemporary reports whether err is a temporary DNS failure.
func IsTemporary(err error) bool {
	de, ok := err.(*net.DNSError)
	return ok && (de.IsTemporary || de.IsTimeout)
}

// IsNotFound reports whether err says the name does not exist.
func IsNotFound(err error) bool {
	de, ok := err.(*net.DNSError)
	return ok && de.IsNotFound
}

// SPFResult is the outcome of one SPF evaluation (RFC 7208).
type SPFResult struct {
	Result   Result
	Identity string     // "mailfrom" or "helo" (RFC 8601 smtp.mailfrom / smtp.helo)
	Domain   string     // the domain whose policy was evaluated
	Sender   string     // the <sender> of check_host(): "postmaster@<helo>" for the null sender
	IP       netip.Addr // the client evaluated
	Reason   string     // one line saying why, for logs and replies
	Trace    []string   // the evaluation step by step, for `spoofguard check`
}

// DKIMResult is the outcome for one DKIM-Signature header (RFC 6376).
type DKIMResult struct {
	Result     Result // pass, fail, policy, neutral, temperror, permerror
	Domain     string // d=
	Selector   string // s=
	Identifier string // i=, "@"+d when absent
	Algorithm  string // a=
	Signature  string // the start of b=, for header.b (RFC 6008)
	Reason     string // why it did not pass; empty on pass
}

// DMARCResult is the outcome of DMARC for one RFC5322.From domain.
type DMARCResult struct {
	Result       Result // pass, fail, none, temperror, permerror
	FromDomain   string // the author domain evaluated
	OrgDomain    string // its organizational domain
	RecordDomain string // the name whose _dmarc record applied ("" when none)
	Record       string // the record text that applied
	Policy       string // the policy for this message: "none", "quarantine" or "reject"
	PolicyTag    string // where Policy came from: "p", "sp" or "np"
	Sampled      bool   // false when pct sampling exempted this message from Policy
	SPFAligned   bool
	DKIMAligned  bool
	AlignedDKIM  string // d= of the signature that aligned, if any
	Reason       string // one line saying why
}
