package audit

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
	"github.com/spoofguard/spoofguard/policy"
)

// auditZone holds one domain per odd case; every domain has MX and DMARC
// records unless the case is about them.
const auditZone = `
mx.filter.example.        IN A    198.51.100.10
bare.example.             IN A    192.0.2.99
mx6.filter.example.       IN AAAA 2001:db8:f::25

two.example.              IN TXT  "v=spf1 -all"
two.example.              IN TXT  "v=spf1 ip4:192.0.2.1 -all"
broken.example.           IN TXT  "v=spf1 ip4:192.0.2.1/99 -all"
neutral.example.          IN TXT  "v=spf1 ip4:203.0.113.10 ?all"
open.example.             IN TXT  "v=spf1 +all"
noall.example.            IN TXT  "v=spf1 ip4:203.0.113.10"
dangling.example.         IN TXT  "v=spf1 include:missing.dangling.example ip4:203.0.113.10 -all"
voids.example.            IN TXT  "v=spf1 a:n1.voids.example a:n2.voids.example a:n3.voids.example ip4:203.0.113.10 -all"
macro.example.            IN TXT  "v=spf1 exists:%{i}.allow.macro.example -all"
redirected.example.       IN TXT  "v=spf1 redirect=_spf.redirected.example"
_spf.redirected.example.  IN TXT  "v=spf1 ip4:203.0.113.0/24 -all"

dmarc2.example.           IN TXT  "v=spf1 ip4:203.0.113.10 -all"
_dmarc.dmarc2.example.    IN TXT  "v=DMARC1; p=reject"
_dmarc.dmarc2.example.    IN TXT  "v=DMARC1; p=none"
badpolicy.example.        IN TXT  "v=spf1 ip4:203.0.113.10 -all"
_dmarc.badpolicy.example. IN TXT  "v=DMARC1; p=always"
repaired.example.         IN TXT  "v=spf1 ip4:203.0.113.10 -all"
_dmarc.repaired.example.  IN TXT  "v=DMARC1; p=always; rua=mailto:d@repaired.example"
weaksp.example.           IN TXT  "v=spf1 ip4:203.0.113.10 -all"
_dmarc.weaksp.example.    IN TXT  "v=DMARC1; p=reject; sp=none; rua=mailto:d@weaksp.example"

nullmx.example.           IN MX   0 .
lost.example.             IN MX   10 mx.filter.example.
lost.example.             IN MX   20 nowhere.lost.example.
v6.example.               IN MX   10 mx6.filter.example.
v6.example.               IN AAAA 2001:db8:bad::1
lax.example.              IN MX   10 mx.filter.example.
smtp.lax.example.         IN A    192.0.2.80
trying.example.           IN MX   10 mx.filter.example.
mx.trying.example.        IN A    192.0.2.81
`

const auditConfig = `
[dns]
servers = ["%s"]
timeout = "300ms"
attempts = 1
[networks]
trusted = ["127.0.0.0/8", "::1/128", "10.1.0.0/16", "fd00::/8", "2000::/16", "2001:db8:77::/48"]
outbound = ["203.0.113.10"]
[[relay]]
name = "filter"
networks = ["198.51.100.0/24", "2001:db8:f::/48"]
[[domain]]
name = "v6.example"
via = "filter"
[[domain]]
name = "lost.example"
via = "filter"
[[domain]]
name = "nullmx.example"
via = "filter"
[[domain]]
name = "lax.example"
via = "filter"
direct_delivery = "accept"
[[domain]]
name = "trying.example"
via = "filter"
mode = "report-only"
`

func newAuditEngine(t *testing.T) *policy.Engine {
	t.Helper()
	srv := dnstest.New(t, auditZone)
	cfg, err := config.ParseConfig("audit.toml", []byte(fmt.Sprintf(auditConfig, srv.Addr)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := dnsauth.NewResolver(dnsauth.ResolverConfig{Servers: cfg.DNS.Servers, Timeout: cfg.DNS.Timeout.Duration, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	e := policy.NewEngine(context.Background(), cfg, res, policy.Options{NoRefresh: true})
	t.Cleanup(e.Close)
	return e
}

// finding returns the findings of one check, "STATUS detail" each.
func finding(d Domain, check string) []string {
	var out []string
	for _, f := range d.Findings {
		if f.Check == check {
			out = append(out, string(f.Status)+" "+f.Detail)
		}
	}
	return out
}

func TestAuditDomains(t *testing.T) {
	e := newAuditEngine(t)
	test := func(domain, check string, want ...string) {
		t.Run(domain+"/"+check, func(t *testing.T) {
			r := Run(context.Background(), e, []string{domain})
			got := finding(r.Domains[0], check)
			if len(got) != len(want) {
				t.Fatalf("findings %q, want %d starting %q", got, len(want), want)
			}
			for i := range want {
				if !strings.HasPrefix(got[i], want[i]) {
					t.Errorf("finding %q, want it to start with %q", got[i], want[i])
				}
			}
		})
	}
	test("two.example", "spf.record", "FAIL 2 SPF records")
	test("broken.example", "spf.record", "FAIL invalid: ")
	test("neutral.example", "spf.all", "FAIL ends in ?all")
	test("open.example", "spf.all", "FAIL ends in +all")
	test("open.example", "spf.outbound", "PASS covers every outbound server")
	test("noall.example", "spf.all", "FAIL no all term")
	test("dangling.example", "spf.terms", "FAIL include:missing.dangling.example: missing.dangling.example has no SPF record")
	test("voids.example", "spf.void", "FAIL 3 lookups find nothing")
	test("voids.example", "spf.terms")
	test("macro.example", "spf.outbound", "FAIL outbound server(s) 203.0.113.10 not authorized")
	test("redirected.example", "spf.all", "PASS ends in -all")
	test("redirected.example", "spf.outbound", "PASS")
	test("dmarc2.example", "dmarc.record", "FAIL several DMARC records")
	test("badpolicy.example", "dmarc.record", "FAIL invalid record at _dmarc.badpolicy.example")
	test("repaired.example", "dmarc.record", "WARN _dmarc.repaired.example: ")
	test("repaired.example", "dmarc.policy", "FAIL p=none: forgeries of this domain are delivered elsewhere")
	test("weaksp.example", "dmarc.sp", "FAIL sp=none for subdomains")
	test("nullmx.example", "mx", "WARN null MX")
	test("lost.example", "mx.relay", "WARN MX host nowhere.lost.example (preference 20) does not resolve")
	test("v6.example", "mx.relay", "PASS every MX host is inside relay")
	test("v6.example", "exposure", "WARN direct-delivery exposure: v6.example resolves to 2001:db8:bad::1")
	test("lax.example", "exposure", "FAIL direct-delivery exposure: smtp.lax.example resolves to 192.0.2.80")
	test("trying.example", "exposure", "WARN direct-delivery exposure: mx.trying.example")
	test("bare.example", "mx", "FAIL no MX records")
	test("bare.example", "dmarc.record", "FAIL no DMARC record: forgeries of this domain are delivered elsewhere")
	// A name that does not exist is reported as such, not as a domain
	// without SPF, DMARC or MX.
	test("nothing.example", "exists", "FAIL nothing.example does not exist in the DNS (NXDOMAIN)")
	test("nothing.example", "spf.record")
	test("nothing.example", "mx")
}

func TestAuditReportOnlyExposureWords(t *testing.T) {
	e := newAuditEngine(t)
	r := Run(context.Background(), e, []string{"trying.example", "lax.example"})
	if got := finding(r.Domains[0], "exposure")[0]; !strings.Contains(got, "once enforced (the domain is in report-only mode)") {
		t.Errorf("report-only: %q", got)
	}
	if got := finding(r.Domains[1], "exposure")[0]; !strings.Contains(got, "direct_delivery = accept") {
		t.Errorf("accept: %q", got)
	}
}

func TestAuditConfiguration(t *testing.T) {
	e := newAuditEngine(t)
	r := Run(context.Background(), e, []string{"v6.example"})
	var got []string
	for _, f := range r.Config {
		got = append(got, string(f.Status)+" "+f.Check+" "+f.Detail)
	}
	want := []string{
		"FAIL networks.trusted 2000::/16 covers a large part of the Internet",
		"WARN networks.trusted 2001:db8:77::/48 is a public range",
		"WARN networks.outbound 203.0.113.10/32 is a public range",
		`PASS relay "filter" 2 network(s)`,
	}
	if len(got) != len(want) {
		t.Fatalf("config findings %q", got)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("%q, want %q", got[i], want[i])
		}
	}
	// v6.example publishes neither SPF nor DMARC: two FAILs of its own.
	if r.Summary != (Summary{Pass: 3, Warn: 3, Fail: 3}) || !r.Failed() {
		t.Errorf("summary %+v", r.Summary)
	}
}

func TestAuditAllProtectedByDefault(t *testing.T) {
	e := newAuditEngine(t)
	r := Run(context.Background(), e, nil)
	var names []string
	for _, d := range r.Domains {
		names = append(names, d.Name)
	}
	if strings.Join(names, ",") != "v6.example,lost.example,nullmx.example,lax.example,trying.example" {
		t.Errorf("domains %q", names)
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	sum := fmt.Sprintf("Summary: %d PASS, %d WARN, %d FAIL", r.Summary.Pass, r.Summary.Warn, r.Summary.Fail)
	if !strings.HasSuffix(text.String(), sum+"\n") || !r.Failed() {
		t.Errorf("summary %q missing or wrong:\n%s", sum, text.String())
	}
}

func TestNetworkJudgements(t *testing.T) {
	for _, c := range []struct {
		net         string
		local, wide bool
	}{
		{"127.0.0.0/8", true, false},
		{"10.0.0.0/8", true, false},
		{"10.0.0.0/7", false, true},
		{"172.16.5.0/24", true, false},
		{"172.32.0.0/16", false, false},
		{"192.168.0.0/16", true, false},
		{"100.64.0.0/10", true, false},
		{"100.64.0.0/9", false, false},
		{"198.51.100.0/24", false, false},
		{"0.0.0.0/1", false, true},
		{"::1/128", true, false},
		{"fd12:3456::/32", true, false},
		{"fe80::/64", true, false},
		{"2001:db8::/32", false, false},
		{"2000::/3", false, true},
	} {
		p := netip.MustParsePrefix(c.net)
		if isLocal(p) != c.local || internetWide(p) != c.wide {
			t.Errorf("%s: local %v wide %v, want %v %v", c.net, isLocal(p), internetWide(p), c.local, c.wide)
		}
	}
	nets := []netip.Prefix{netip.MustParsePrefix("203.0.113.0/27"), netip.MustParsePrefix("2001:db8::/48")}
	for s, want := range map[string]bool{
		"203.0.113.10/32": true, "203.0.113.0/27": true, "203.0.113.0/26": false, "203.0.113.40/32": false,
		"2001:db8::25/128": true, "2001:db8::/32": false,
	} {
		if covered(nets, netip.MustParsePrefix(s)) != want {
			t.Errorf("covered(%s) != %v", s, want)
		}
	}
	for in, want := range map[string]string{
		"Example.ORG.": "example.org", " bücher.example ": "xn--bcher-kva.example", "a..b": "a..b",
	} {
		if got := normalize(in); got != want {
			t.Errorf("normalize(%q) = %q, want %q", in, got, want)
		}
	}
	for pair, want := range map[[2]string]bool{
		{"example.org", "example.org"}: true, {"mail.example.org", "example.org"}: true, {"example.org", "Mail.Example.Org."}: true,
		{"example.org", "badexample.org"}: false, {"example.org", "example.net"}: false,
	} {
		if overlaps(pair[0], pair[1]) != want {
			t.Errorf("overlaps(%q, %q) != %v", pair[0], pair[1], want)
		}
	}
}

// The resolver is checked before the audit: with it down, no domain is
// blamed for lookups that never reached a server.
func TestCheckResolver(t *testing.T) {
	srv := dnstest.New(t, auditZone)
	if err := CheckResolver(context.Background(), []string{srv.Addr}, time.Second); err != nil {
		t.Errorf("a running server: %v", err)
	}
	if err := CheckResolver(context.Background(), []string{dnstest.DeadAddr, srv.Addr}, time.Second); err != nil {
		t.Errorf("one of two servers answers: %v", err)
	}
	err := CheckResolver(context.Background(), []string{dnstest.DeadAddr}, time.Second)
	if err == nil || err.Error() != "resolver "+dnstest.DeadAddr+" unreachable" {
		t.Errorf("dead server: %v", err)
	}
	if err := CheckResolver(context.Background(), nil, time.Second); err == nil {
		t.Error("no server: no error")
	}
}
