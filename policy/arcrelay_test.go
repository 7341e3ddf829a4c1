package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

// arcRelay is the deep relay trusting its ARC seals only (no
// authserv_id): the fixtures in testdata/arc (made by dkimpy, see gen.sh)
// carry the filter's Authentication-Results too, which must not be what
// rescues them here.
const arcRelay = `
[[relay]]
name = "deep"
networks = ["198.51.105.0/24"]
by_names = ["*.deep.example.net", "mx.elsewhere.example"]
arc_sealers = ["deep.example.net"]
`

// arcWorld is the engine world with the fixtures' key published for the
// two sealers and for the original DKIM signature of example.org.
func arcWorld(t *testing.T) *engineWorld {
	t.Helper()
	w := newEngineWorld(t)
	key, err := os.ReadFile(filepath.Join("testdata", "arc", "key.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"arc._domainkey.deep.example.net.", "arc._domainkey.elsewhere.example.", "fx._domainkey.example.org.", "fx._domainkey.partner.example."} {
		w.dns.MustAdd(t, name+" IN TXT "+string(key))
	}
	return w
}

func arcFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "arc", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEngineRelayARC(t *testing.T) {
	w := arcWorld(t)
	edge := []string{"user@edge.example"}
	once := arcFixture(t, "once.eml")
	runEngineCases(t, w, []engineCase{
		{name: "sealed by the relay's sealer: the results before the footer count", extra: arcRelay, ip: "198.51.105.9", rcpts: edge,
			mailFrom: "bounce@saas.example", msg: once, action: config.ActionAccept, stage: StageBody},
		{name: "the seal broken after the relay sealed it", extra: arcRelay, ip: "198.51.105.9", rcpts: edge,
			mailFrom: "bounce@saas.example", msg: strings.Replace(once, "Hello.", "Hello!", 1),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageBody},
		{name: "a sealer not configured for the relay", extra: strings.Replace(arcRelay, `arc_sealers = ["deep.example.net"]`, `arc_sealers = ["elsewhere.example"]`, 1),
			ip: "198.51.105.9", rcpts: edge, mailFrom: "bounce@saas.example", msg: once,
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageBody},
		{name: "a relay with no sealers validates nothing", extra: strings.Replace(arcRelay, `arc_sealers = ["deep.example.net"]`, "", 1),
			ip: "198.51.105.9", rcpts: edge, mailFrom: "bounce@saas.example", msg: once,
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageBody},
		{name: "the same message straight from the Internet", extra: arcRelay, ip: "192.0.2.77", rcpts: edge,
			mailFrom: "bounce@saas.example", msg: once, action: config.ActionReject, rule: RuleHeaderForgery, stage: StageBody},
		{name: "the newest set has no pass to take", extra: arcRelay, ip: "198.51.105.9", rcpts: edge,
			mailFrom: "bounce@saas.example", msg: arcFixture(t, "outer.eml"), action: config.ActionReject, rule: RuleHeaderForgery, stage: StageBody},
		{name: "three sets, the newest by the relay's sealer", extra: arcRelay, ip: "198.51.105.9", rcpts: edge,
			mailFrom: "bounce@saas.example", msg: arcFixture(t, "three.eml"), action: config.ActionAccept, stage: StageBody},
		{name: "a DMARC local override for a partner (p=quarantine)", extra: arcRelay, ip: "198.51.105.9", rcpts: edge,
			mailFrom: "bounce@saas.example", msg: arcFixture(t, "partner.eml"), action: config.ActionAccept, stage: StageBody},
		{name: "no override from another relay's sealer", extra: strings.Replace(arcRelay, `arc_sealers = ["deep.example.net"]`, `arc_sealers = ["elsewhere.example"]`, 1),
			ip: "198.51.105.9", rcpts: edge, mailFrom: "bounce@saas.example", msg: arcFixture(t, "partner.eml"),
			action: config.ActionQuarantine, rule: RuleDMARC, stage: StageBody},
		{name: "an older seal by the relay's sealer does not count", extra: arcRelay, ip: "198.51.105.9", rcpts: edge,
			mailFrom: "bounce@saas.example", msg: arcFixture(t, "inner.eml"), action: config.ActionReject, rule: RuleHeaderForgery, stage: StageBody},
	})
}

// TestEngineRelayARCRecorded: the outcome names the chain, the sealer
// and what was taken, and our Authentication-Results records both.
func TestEngineRelayARCRecorded(t *testing.T) {
	w := arcWorld(t)
	e := w.engine(t, "", "", arcRelay, Options{})
	run := func(ip, msg string) *Message { return runEdge(t, e, ip, "bounce@saas.example", msg) }
	m := run("198.51.105.9", arcFixture(t, "once.eml"))
	if o := m.ARC; o == nil || !o.Trusted || o.Sealer != "deep.example.net" || o.Instance != 1 {
		t.Fatalf("ARC outcome %+v, want a trusted chain sealed by deep.example.net", o)
	}
	got := strings.NewReplacer("\r\n\t", " ", "\r\n", "").Replace(m.AuthResults("mx.example.org"))
	for _, want := range []string{"arc=pass (i=1 sealer deep.example.net; chain pass", "smtp.remote-ip=198.51.105.9",
		`dkim=pass (from ARC i=1 sealed by deep.example.net for relay "deep") header.d=example.org`,
		`spf=pass (from ARC i=1 sealed by deep.example.net for relay "deep") smtp.mailfrom=saas.example`} {
		if !strings.Contains(got, want) {
			t.Errorf("Authentication-Results lacks %q:\n%s", want, got)
		}
	}
	if m := run("192.0.2.77", arcFixture(t, "once.eml")); m.ARC != nil || len(m.Trusted) != 0 {
		t.Errorf("direct delivery: ARC %+v, trusted %+v; want neither", m.ARC, m.Trusted)
	}
	if m := run("198.51.105.9", arcFixture(t, "inner.eml")); m.ARC == nil || m.ARC.Trusted || !strings.Contains(m.ARC.Why, "not one of relay") {
		t.Errorf("newest seal by another: %+v", m.ARC)
	}
}

// TestEngineRelayARCTempError: when the relay's seal cannot be checked
// for a DNS failure, the message it might vouch for is not refused: the
// header-forgery rule answers temperror, and the seal lends nothing.
func TestEngineRelayARCTempError(t *testing.T) {
	w := arcWorld(t)
	w.dns.SetFault("arc._domainkey.deep.example.net.", dnstest.ServFail)
	runEngineCases(t, w, []engineCase{
		{name: "the relay's seal unverifiable", extra: arcRelay, ip: "198.51.105.9", rcpts: []string{"user@edge.example"},
			mailFrom: "bounce@saas.example", msg: arcFixture(t, "once.eml"), action: config.ActionTempFail, rule: RuleHeaderForgery, stage: StageBody},
		{name: "another sealer's seal unverifiable", extra: strings.Replace(arcRelay, `arc_sealers = ["deep.example.net"]`, `arc_sealers = ["elsewhere.example"]`, 1),
			ip: "198.51.105.9", rcpts: []string{"user@edge.example"}, mailFrom: "bounce@saas.example", msg: arcFixture(t, "once.eml"),
			action: config.ActionReject, rule: RuleHeaderForgery, stage: StageBody},
		{name: "the relay's seal on a partner's mail unverifiable", extra: arcRelay, ip: "198.51.105.9", rcpts: []string{"user@edge.example"},
			mailFrom: "bounce@saas.example", msg: arcFixture(t, "partner.eml"), action: config.ActionTempFail, rule: RuleDMARC, stage: StageBody},
	})
}
