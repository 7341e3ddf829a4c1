package explain

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
	"github.com/spoofguard/spoofguard/policy"
)

// `spoofguard check` reads a saved message with white space before a
// field's colon (RFC 5322 §4.5) as the daemon does: "From :" is the
// author, and the relay's "Received :" is its trace.
func TestCheckObsoleteFieldNames(t *testing.T) {
	w := &explainWorld{dns: dnstest.New(t, explainZone)}
	e := w.engine(t)
	msg := relayed("spam.spammer.example 192.0.2.66", strings.Replace(message(`"CEO" <ceo@example.org>`), "From:", "From :", 1))
	msg = strings.Replace(msg, "Received:", "Received\t:", 1)
	helo, from := "filter.example.org", "bounce@spammer.example"
	r, err := Check(context.Background(), e, strings.NewReader(msg), Options{
		ClientIP: netip.MustParseAddr("198.51.100.5"), Helo: &helo, MailFrom: &from, Rcpts: []string{"user@example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "verdict", r.Verdict, config.ActionReject)
	expect(t, "rule", r.Rule, policy.RuleHeaderForgery)
	expect(t, "from", r.From.Domains, []string{"example.org"})
	if r.Path.OriginalClient == nil || r.Path.OriginalClient.IP != "192.0.2.66" {
		t.Errorf("original client %+v", r.Path.OriginalClient)
	}
}
