package explain

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
	"github.com/spoofguard/spoofguard/policy"
)

// TestExplainAuthorizedSender: `spoofguard check` shows the authorised
// sender entry that let a message through, in the JSON report, the text
// trace and the Authentication-Results it would add.
func TestExplainAuthorizedSender(t *testing.T) {
	w := &explainWorld{dns: dnstest.New(t, explainZone), extra: `senders = [{ name = "Scanner", networks = ["192.0.2.82"] }]` + "\n"}
	e := w.engine(t)
	helo, from := "scanner.partner.example", "scan@edge.example"
	r, err := Check(context.Background(), e, strings.NewReader(message("scan@edge.example")), Options{
		ClientIP: netip.MustParseAddr("192.0.2.82"), Helo: &helo, MailFrom: &from, Rcpts: []string{"user@edge.example"}})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "verdict", r.Verdict, "accept")
	want := policy.SenderMatch{Domain: "edge.example", Name: "Scanner", Proof: "client 192.0.2.82 is in 192.0.2.82/32"}
	if len(r.AuthorizedSenders) != 1 || r.AuthorizedSenders[0] != want {
		t.Errorf("authorized senders %+v, want %+v", r.AuthorizedSenders, want)
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		`  authorised sender "Scanner" of edge.example: client 192.0.2.82 is in 192.0.2.82/32`,
		`authorised sender "Scanner" for edge.example`,
	} {
		if !strings.Contains(text.String(), line) {
			t.Errorf("text lacks %q:\n%s", line, text.String())
		}
	}
}
