package policy

import (
	"context"
	"strings"
	"testing"

	"github.com/spoofguard/spoofguard/config"
)

// A client the MTA gave no address for (MAIL before CONNECT, an unknown or
// unix address family) is checked like any Internet client: it cannot
// send as a protected domain, and it bypasses the filter.
func TestEngineClientWithoutAddress(t *testing.T) {
	w := newEngineWorld(t)
	e := w.engine(t, "", "", "", Options{})
	test := func(name, mailFrom, auth string, rcpts []string, msg string, want config.Action, rule string, stage Stage) {
		t.Run(name, func(t *testing.T) {
			m, got, err := e.Run(context.Background(), Transaction{Client: Client{Hostname: "localhost", Helo: "localhost"},
				MailFrom: mailFrom, AuthUser: auth, Rcpts: rcpts, Message: strings.NewReader(msg)})
			if err != nil {
				t.Fatal(err)
			}
			v := m.Verdict()
			if got == StageRcpt {
				v = m.lastRcptVerdict()
			}
			if v.Effective() != want || v.Rule != rule || got != stage {
				t.Errorf("got %s rule=%q at %s, want %s rule=%q at %s\n%s", v.Effective(), v.Rule, got, want, rule, stage, m.outcomeDump())
			}
			if strings.Contains(v.Reason, "invalid IP") {
				t.Errorf("reason speaks of an invalid IP: %s", v.Reason)
			}
		})
	}
	edge := []string{"user@edge.example"}
	test("own envelope sender", "root@edge.example", "", edge, w.message(t, "root@edge.example", "", ""),
		config.ActionReject, RuleEnvelopeForgery, StageMailFrom)
	test("own From", "x@spammer.example", "", edge, w.message(t, "CEO <ceo@edge.example>", "", ""),
		config.ActionReject, RuleHeaderForgery, StageHeaders)
	test("domain behind a relay", "x@spammer.example", "", []string{"user@example.org"}, w.message(t, "x@spammer.example", "", ""),
		config.ActionReject, RuleDirectDelivery, StageRcpt)
	test("own user with SMTP AUTH", "alice@edge.example", "alice", edge, w.message(t, "alice@edge.example", "", ""),
		config.ActionAccept, "", StageBody)
}
