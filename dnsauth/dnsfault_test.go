package dnsauth_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/miekg/dns"

	"github.com/spoofguard/spoofguard/dnsauth"
	dkimauth "github.com/spoofguard/spoofguard/dnsauth/dkim"
	"github.com/spoofguard/spoofguard/dnsauth/dmarc"
	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
	"github.com/spoofguard/spoofguard/dnsauth/spf"
)

// DNS faults against every method that needs DNS. A resolver that is
// down, silent, failing, truncating without a working TCP fallback, or
// answering garbage gives a temporary error, and the method's result is
// temperror: never a pass (the fault would let a forgery through) and
// never a fail or permerror (it would reject good mail for our outage).

const faultZone = `
example.org. IN TXT "v=spf1 ip4:192.0.2.1 include:_spf.example.org -all"
_spf.example.org. IN TXT "v=spf1 ip4:192.0.2.2 -all"
_dmarc.example.org. IN TXT "v=DMARC1; p=reject"
relay.example. IN TXT "v=spf1 ip4:198.51.100.0/24 include:_spf.relay.example -all"
_spf.relay.example. IN TXT "v=spf1 ip6:2001:db8::/32 -all"
`

// faultKey is the Ed25519 key of example.org, selector "sel".
var faultKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

// udpOnly is a DNS server that listens on UDP only and answers with
// answer; nothing listens on its TCP port.
func udpOnly(t *testing.T, answer dns.HandlerFunc) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) }, Handler: answer}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// truncate sets TC on every answer, so a resolver must fall back to TCP,
// where nothing listens: the truncation fault with a failing fallback.
func truncate(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Truncated = true
	w.WriteMsg(m)
}

// echo sends the query back as it came: same ID, same question, no QR
// bit. A reflecting middlebox does this, and so does a resolver's own
// UDP socket when the port of a server that is down was handed to it as
// its ephemeral port (it then "connects" to itself). Taken for an answer
// it reads as "no such records", and a DNS outage becomes a DKIM
// permerror.
func echo(w dns.ResponseWriter, req *dns.Msg) {
	w.WriteMsg(req)
}

// faultCase is one way DNS can fail; setup returns the server address to
// use, with the fault applied to name (and below it) where the fault can
// be that precise, or to everything.
type faultCase struct {
	name  string
	setup func(t *testing.T, srv *dnstest.Server, name string) string
}

var faultCases = []faultCase{
	{"resolver down", func(*testing.T, *dnstest.Server, string) string { return dnstest.DeadAddr }},
	{"timeout", served(dnstest.Timeout)},
	{"SERVFAIL", served(dnstest.ServFail)},
	{"REFUSED", served(dnstest.Refused)},
	{"FORMERR", served(dnstest.FormErr)},
	{"garbage", served(dnstest.Garbage)},
	{"truncated, TCP fallback failing", func(t *testing.T, srv *dnstest.Server, _ string) string { return udpOnly(t, truncate) }},
	{"query echoed back", func(t *testing.T, srv *dnstest.Server, _ string) string { return udpOnly(t, echo) }},
}

// served is a fault the test server shows for one name and below.
func served(f dnstest.Fault) func(*testing.T, *dnstest.Server, string) string {
	return func(_ *testing.T, srv *dnstest.Server, name string) string {
		srv.SetFault(name, f)
		return srv.Addr
	}
}

// withFault runs check against a fresh server and resolver with the
// fault applied to name.
func withFault(t *testing.T, name string, check func(t *testing.T, r *dnsauth.Resolver)) {
	for _, f := range faultCases {
		t.Run(f.name, func(t *testing.T) {
			srv := dnstest.New(t, faultZone)
			srv.MustAdd(t, `sel._domainkey.example.org. IN TXT "v=DKIM1; k=ed25519; p=`+
				base64.StdEncoding.EncodeToString(faultKey.Public().(ed25519.PublicKey))+`"`)
			addr := f.setup(t, srv, name)
			r, err := dnsauth.NewResolver(dnsauth.ResolverConfig{Servers: []string{addr}, Timeout: 200 * time.Millisecond, Attempts: 1})
			if err != nil {
				t.Fatal(err)
			}
			check(t, r)
		})
	}
}

func TestDNSFaultSPF(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.99")
	for _, name := range []string{"example.org", "_spf.example.org"} {
		t.Run(name, func(t *testing.T) {
			withFault(t, name, func(t *testing.T, r *dnsauth.Resolver) {
				res := spf.Check(context.Background(), r, ip, "mail.example.org", "boss@example.org")
				if res.Result != dnsauth.TempError {
					t.Errorf("SPF %s (%s), want temperror", res.Result, res.Reason)
				}
			})
		})
	}
}

func TestDNSFaultDMARC(t *testing.T) {
	// Nothing aligns, so only the policy record decides; it cannot be had.
	in := dmarc.Input{FromDomain: "example.org", SPF: &spf.Result{Result: dnsauth.Pass, Domain: "spammer.example"}}
	withFault(t, "_dmarc.example.org", func(t *testing.T, r *dnsauth.Resolver) {
		res := dmarc.Check(context.Background(), r, in, dmarc.Options{Rand: func() int { return 0 }})
		if res.Result != dnsauth.TempError {
			t.Errorf("DMARC %s (%s), want temperror", res.Result, res.Reason)
		}
		if _, _, err := dmarc.Lookup(context.Background(), r, "example.org"); !dnsauth.IsTemporary(err) {
			t.Errorf("Lookup error %v, want a temporary one", err)
		}
	})
	// A subdomain's discovery falls back to the organizational domain
	// (RFC 7489 §6.6.3); a failure there is a temperror too.
	withFault(t, "_dmarc.example.org", func(t *testing.T, r *dnsauth.Resolver) {
		res := dmarc.Check(context.Background(), r, dmarc.Input{FromDomain: "news.example.org"}, dmarc.Options{})
		if res.Result != dnsauth.TempError {
			t.Errorf("DMARC for a subdomain %s (%s), want temperror", res.Result, res.Reason)
		}
	})
}

func TestDNSFaultDKIMKey(t *testing.T) {
	msg := "From: boss@example.org\r\nTo: user@example.net\r\nSubject: hi\r\n\r\nHello.\r\n"
	var signed bytes.Buffer
	if err := dkim.Sign(&signed, strings.NewReader(msg), &dkim.SignOptions{Domain: "example.org", Selector: "sel", Signer: faultKey}); err != nil {
		t.Fatal(err)
	}
	withFault(t, "sel._domainkey.example.org", func(t *testing.T, r *dnsauth.Resolver) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res := dkimauth.Verify(ctx, r, bytes.NewReader(signed.Bytes()), dkimauth.Options{})
		if len(res) != 1 || res[0].Result != dnsauth.TempError {
			t.Errorf("DKIM %v, want one temperror", res)
		}
		// What DMARC makes of it: the aligned signature could have
		// passed, so the outcome is unknown, not a fail.
		d := dmarc.Check(ctx, r, dmarc.Input{FromDomain: "example.org", DKIM: res}, dmarc.Options{})
		if d.Result == dnsauth.Pass || d.Result == dnsauth.Fail {
			t.Errorf("DMARC with the key unreachable: %s (%s)", d.Result, d.Reason)
		}
	})
}

func TestDNSFaultRelaySPFExpansion(t *testing.T) {
	for _, name := range []string{"relay.example", "_spf.relay.example"} {
		t.Run(name, func(t *testing.T) {
			withFault(t, name, func(t *testing.T, r *dnsauth.Resolver) {
				a := spf.Analyze(context.Background(), r, "relay.example")
				if !a.TempError {
					t.Errorf("relay SPF expansion: TempError not set; networks %v, problems %q", a.Networks, a.Problems)
				}
			})
		})
	}
}

// The resolver answers each fault with a temporary error and no answer,
// and a fault does not stick: once the server is well again, so are the
// lookups (a temporary failure is not cached as a negative answer).
func TestDNSFaultIsTemporaryAndNotCached(t *testing.T) {
	withFault(t, "example.org", func(t *testing.T, r *dnsauth.Resolver) {
		txt, err := r.LookupTXT(context.Background(), "example.org")
		if !dnsauth.IsTemporary(err) || dnsauth.IsNotFound(err) || txt != nil {
			t.Errorf("LookupTXT = %q, %v; want a temporary error", txt, err)
		}
	})
	srv := dnstest.New(t, faultZone)
	srv.SetFault("example.org", dnstest.ServFail)
	r, err := dnsauth.NewResolver(dnsauth.ResolverConfig{Servers: []string{srv.Addr}, Timeout: 200 * time.Millisecond, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.LookupTXT(context.Background(), "example.org"); !dnsauth.IsTemporary(err) {
		t.Fatalf("with SERVFAIL: %v", err)
	}
	srv.SetFault("example.org", dnstest.NoFault)
	if txt, err := r.LookupTXT(context.Background(), "example.org"); err != nil || len(txt) != 1 {
		t.Errorf("after the fault cleared: %q, %v", txt, err)
	}
}

// A truncated answer whose TCP retry fails, ten thousand times: the TCP
// connection attempts must not leave sockets or goroutines behind.
func TestDNSFaultTruncationDoesNotLeak(t *testing.T) {
	r, err := dnsauth.NewResolver(dnsauth.ResolverConfig{Servers: []string{udpOnly(t, truncate)}, Timeout: 200 * time.Millisecond, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(i int) {
		if _, err := r.LookupTXT(context.Background(), fmt.Sprintf("n%d.example.org", i%50)); !dnsauth.IsTemporary(err) {
			t.Fatalf("lookup %d: %v", i, err)
		}
	}
	for i := 0; i < 50; i++ {
		lookup(i)
	}
	time.Sleep(50 * time.Millisecond)
	before := dnstest.CountResources(t)
	const n = 10000
	for i := 0; i < n; i++ {
		lookup(i)
	}
	dnstest.ExpectNoLeak(t, before, 2, 3*time.Second, fmt.Sprintf("%d truncated lookups with TCP refused", n))
}

// spf.Analyze names its problems in the same order every time: the huge
// networks were once listed in the random order of a map, and a relay's
// status line changed from one refresh to the next.
func TestAnalyzeSPFProblemsInOrder(t *testing.T) {
	srv := dnstest.New(t, `wide.example. IN TXT "v=spf1 ip4:0.0.0.0/1 ip4:128.0.0.0/2 ip6:::/0 ip6:8000::/3 ip4:10.0.0.0/8 -all"`)
	r, err := dnsauth.NewResolver(dnsauth.ResolverConfig{Servers: []string{srv.Addr}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	want := "[0.0.0.0/1 authorizes a huge part of the address space 128.0.0.0/2 authorizes a huge part of the address space " +
		"::/0 authorizes a huge part of the address space 8000::/3 authorizes a huge part of the address space]"
	for i := 0; i < 50; i++ {
		if got := fmt.Sprint(spf.Analyze(context.Background(), r, "wide.example").Problems); got != want {
			t.Fatalf("run %d: problems %s, want %s", i, got, want)
		}
	}
}
