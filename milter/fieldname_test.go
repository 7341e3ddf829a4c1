package milter

import (
	"fmt"
	"strings"
	"testing"

	gomilter "github.com/d--j/go-milter"
)

// Some MTAs pass a field name to the milter as it was written, white space
// before the colon included (the obsolete syntax of RFC 5322 §4.5). The
// daemon must read "From " as From, and treat forged "Authentication-Results "
// and verdict fields as the ones they are.
func TestDaemonObsoleteFieldNames(t *testing.T) {
	w := newHostileDaemon(t, "", "")
	addr := w.d.Addr().String()
	t.Run("forged own From", func(t *testing.T) {
		msg := strings.Replace(hostileMsg(`"CEO" <ceo@edge.example>`, "Pay now.\r\n"), "From:", "From :", 1)
		r := send(t, addr, "192.0.2.66", "spam.example", "", "x@spammer.example", []string{"user@edge.example"}, msg)
		if got := r.summary(); got != "eoh reject" {
			t.Errorf("got %s, want eoh reject", got)
		}
	})
	t.Run("forged Authentication-Results and verdict fields", func(t *testing.T) {
		msg := relayTrace("mail.partner.example 192.0.2.30") + "\r\n" + signAs(t, hostileMsg("alice@partner.example", "Hi.\r\n",
			"Authentication-Results : mx.example.org; dmarc=pass header.from=edge.example",
			"X-Spoofguard\t: accept"), "partner.example", "sel")
		r := send(t, addr, "198.51.100.5", "filter.example.org", "", "alice@partner.example", []string{"user@example.org"}, msg)
		if r.summary() != "eom accept" {
			t.Fatalf("got %s", r.summary())
		}
		// Each forged field is deleted (changed to nothing), and nothing else.
		want := map[string]bool{"authentication-results 1": true, "x-spoofguard 1": true}
		for _, m := range r.mods {
			if m.Type != gomilter.ActionChangeHeader {
				continue
			}
			field := strings.ToLower(m.HeaderName) + " " + fmt.Sprint(m.HeaderIndex)
			if !want[field] || m.HeaderValue != "" {
				t.Errorf("unexpected header change %+v", m)
			}
			delete(want, field)
		}
		if len(want) > 0 {
			t.Errorf("forged fields not deleted: %v", want)
		}
	})
}
