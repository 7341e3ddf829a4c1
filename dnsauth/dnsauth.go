// Package dnsauth is the common ground of the sender-authentication
// methods that answer "who really sent this message?" for spoofguard: the
// one caching DNS resolver the whole daemon shares, the DNS interface the
// methods resolve through, and the result values they report. The methods
// themselves live one package each below it: spf (RFC 7208), dkim
// (RFC 6376, RFC 8463), dmarc (RFC 7489 with the DMARCbis tree walk, and
// the organizational domain from the Public Suffix List), and authres, the
// Authentication-Results header (RFC 8601) that reports all of them. They
// import dnsauth; dnsauth imports none of them.
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

// NotFoundError is the error for NXDOMAIN: a permanent absence.
func NotFoundError(name string) *net.DNSError {
	return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// TemporaryError is the error for SERVFAIL, REFUSED, timeouts and network
// failures: a temporary condition that must never become a reject.
func TemporaryError(name, reason string, timeout bool) *net.DNSError {
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
