package dnstest

import (
	"testing"

	"github.com/miekg/dns"
)

func exchange(t *testing.T, s *Server, proto, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(1232, false)
	c := &dns.Client{Net: proto}
	r, _, err := c.Exchange(m, s.Addr)
	if err != nil {
		t.Fatalf("%s %s: %v", proto, name, err)
	}
	return r
}

func TestServerAnswers(t *testing.T) {
	s := New(t, `
example.org. 300 IN SOA ns.example.org. admin.example.org. 1 3600 600 86400 120
example.org. 300 IN TXT "v=spf1 -all"
www.example.org. IN CNAME example.org.
*.wild.example.org. IN A 192.0.2.7
deep.sub.example.org. IN A 192.0.2.8
`)
	for _, proto := range []string{"udp", "tcp"} {
		r := exchange(t, s, proto, "example.org", dns.TypeTXT)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Errorf("%s TXT: %v", proto, r)
		}
		r = exchange(t, s, proto, "www.example.org", dns.TypeTXT)
		if len(r.Answer) != 2 {
			t.Errorf("%s CNAME chase: %v", proto, r.Answer)
		}
		r = exchange(t, s, proto, "nx.example.org", dns.TypeA)
		if r.Rcode != dns.RcodeNameError || len(r.Ns) != 1 {
			t.Errorf("%s NXDOMAIN: %v", proto, r)
		}
		r = exchange(t, s, proto, "sub.example.org", dns.TypeA)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
			t.Errorf("%s empty non-terminal: %v", proto, r)
		}
		r = exchange(t, s, proto, "x.wild.example.org", dns.TypeA)
		if len(r.Answer) != 1 || r.Answer[0].Header().Name != "x.wild.example.org." {
			t.Errorf("%s wildcard: %v", proto, r.Answer)
		}
	}
}

func TestServerFaults(t *testing.T) {
	s := New(t, "big.example.org. IN TXT \"x\"")
	s.SetFault("sf.example.org", ServFail)
	if r := exchange(t, s, "udp", "a.sf.example.org", dns.TypeTXT); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("servfail: %v", r)
	}
	s.SetFault("tc.example.org", Truncate)
	if r := exchange(t, s, "udp", "tc.example.org", dns.TypeTXT); !r.Truncated {
		t.Errorf("truncate over udp: %v", r)
	}
	if r := exchange(t, s, "tcp", "tc.example.org", dns.TypeTXT); r.Truncated {
		t.Errorf("truncate over tcp: %v", r)
	}
	s.Stop()
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if r := exchange(t, s, "udp", "big.example.org", dns.TypeTXT); len(r.Answer) != 1 {
		t.Errorf("after restart: %v", r)
	}
}
