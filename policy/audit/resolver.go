package audit

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// CheckResolver asks each DNS server whether it answers at all, before an
// audit blames the audited domains for what is the resolver's failure. A
// server that answers anything — even SERVFAIL or REFUSED for the root —
// is reachable; the error lists the servers that are not, when none is.
func CheckResolver(ctx context.Context, servers []string, timeout time.Duration) error {
	if len(servers) == 0 {
		return fmt.Errorf("no DNS server configured (dns.servers is empty and /etc/resolv.conf names none)")
	}
	c := &dns.Client{Timeout: timeout}
	q := new(dns.Msg)
	q.SetQuestion(".", dns.TypeNS)
	for _, s := range servers {
		if _, _, err := c.ExchangeContext(ctx, q, s); err == nil {
			return nil
		}
	}
	noun := "resolver"
	if len(servers) > 1 {
		noun = "resolvers"
	}
	return fmt.Errorf("%s %s unreachable", noun, strings.Join(servers, ", "))
}
