package milter

import (
	"strings"
	"testing"

	gomilter "github.com/d--j/go-milter"

	"github.com/spoofguard/spoofguard/policy"
)

// TestQuarantineReason checks the reason sent with SMFIR_QUARANTINE,
// which Sendmail keeps on the queue file's q line and shows in "mailq
// -qQ": it names the rule and the domain and says why, since a
// quarantine verdict has no reply text of its own.
func TestQuarantineReason(t *testing.T) {
	w := newDaemonWorld(t, "")
	r := send(t, w.d.Addr().String(), "198.51.100.5", "filter.example.org", "", "alice@partner.example",
		[]string{"user@example.org"}, w.message("alice@partner.example", false, "spam.spammer.example 192.0.2.66"))
	var reasons []string
	for _, m := range r.mods {
		if m.Type == gomilter.ActionQuarantine {
			reasons = append(reasons, m.Reason)
		}
	}
	if len(reasons) != 1 {
		t.Fatalf("quarantine reasons %q, want one (%s %v)", reasons, r.stage, r.act)
	}
	if want := "dmarc domain=partner.example: DMARC fail for partner.example"; !strings.HasPrefix(reasons[0], want) {
		t.Errorf("reason %q, want it to start with %q", reasons[0], want)
	}
}

func TestQuarantineReasonText(t *testing.T) {
	for _, c := range []struct {
		v    policy.Verdict
		want string
	}{
		{policy.Verdict{Rule: "dmarc", Domain: "bank.example", Reason: "DMARC fail\r\nfor bank.example"},
			"dmarc domain=bank.example: DMARC fail??for bank.example"},
		{policy.Verdict{Rule: "relay-trace", Text: "cannot trace", Reason: "long"}, "relay-trace: cannot trace"},
		{policy.Verdict{Rule: "dmarc", Reason: strings.Repeat("x", 500)}, "dmarc: " + strings.Repeat("x", 390) + "..."},
	} {
		if got := quarantineReason(c.v); got != c.want {
			t.Errorf("quarantineReason(%+v) = %q, want %q", c.v, got, c.want)
		}
	}
}
