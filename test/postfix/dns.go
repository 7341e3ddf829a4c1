package postfix

import (
	"strings"

	"github.com/miekg/dns"
)

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
