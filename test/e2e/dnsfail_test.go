//go:build e2e

package e2e

import (
	"testing"

	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
	"github.com/spoofguard/spoofguard/test/postfix"
)

// TestDNSFailure runs mail through Postfix while parts of the DNS answer
// SERVFAIL. Where the failed lookup could change the verdict, Postfix
// must answer 451 (the client retries later), never a 5xx; where it could
// not, the forgery is refused as certainly as with DNS working.
func TestDNSFailure(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{mode: "enforce"})
	w.dns.MustAdd(t, `
flaky.example.          TXT   "v=spf1 ip4:127.0.0.30 -all"
_dmarc.flaky.example.   TXT   "v=DMARC1; p=reject"
servfail.example.       TXT   "v=spf1 ip4:127.0.0.66 -all"
`)
	w.dns.SetFault("flaky.example", dnstest.ServFail)
	w.dns.SetFault("servfail.example", dnstest.ServFail)
	flaky := party{"127.0.0.30", "mail.flaky.example"}
	w.runAll(t, []scenario{
		{name: "sender domain's SPF and DMARC unreachable", origin: flaky, viaRelay: true,
			mailFrom: "news@flaky.example", from: "News <news@flaky.example>",
			want: rejected(postfix.StageEndData, "451 4.7.1")},
		{name: "forged own From, envelope domain unreachable", origin: spammer, viaRelay: true,
			mailFrom: "x@servfail.example", from: "CEO <ceo@example.org>",
			want: rejected(postfix.StageEndData, "550 5.7.1")},
		{name: "partner mail while another domain fails", origin: partner, viaRelay: true,
			mailFrom: "news@partner.example", from: "Partner <news@partner.example>", sign: true,
			want: delivered(verdict("accept"))},
	})
}
