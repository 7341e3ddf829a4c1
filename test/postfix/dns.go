package postfix

import (
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

// StartDNS starts an in-process DNS server with zone for the test and
// stops it when the test ends. dnstest picks a free UDP port and then binds
// TCP on the same number, which another process may hold (on a busy
// machine any outgoing connection can have it as its local port); a few
// tries get past that.
func StartDNS(t testing.TB, zone string) *dnstest.Server {
	t.Helper()
	var err error
	for try := 0; try < 5; try++ {
		var s *dnstest.Server
		if s, err = dnstest.Start("127.0.0.1:0", zone); err == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("dns: %v", err)
	return nil
}

// TXTLookup returns a TXT lookup that asks the DNS server at addr
// directly, for checking test messages (DKIM) without spoofguard's
// resolver.
func TXTLookup(addr string) func(name string) ([]string, error) {
	return func(name string) ([]string, error) {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), dns.TypeTXT)
		in, err := dns.Exchange(m, addr)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, rr := range in.Answer {
			if txt, ok := rr.(*dns.TXT); ok {
				out = append(out, strings.Join(txt.Txt, ""))
			}
		}
		return out, nil
	}
}
