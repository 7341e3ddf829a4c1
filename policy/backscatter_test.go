package policy

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spoofguard/spoofguard/batv"
	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

var (
	bsKey    = []byte("policy test key, thirty-two byte")
	bsOldKey = []byte("the key before the rotation.....")
	// bsNow is the engine's clock in these tests.
	bsNow = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
)

// withBackscatter gives e BATV with the test key, signing since `since`
// (zero: never signed), edge.example signing all its mail with DKIM.
func withBackscatter(t testing.TB, e *Engine, since time.Time, keys ...[]byte) *Engine {
	t.Helper()
	if len(keys) == 0 {
		keys = [][]byte{bsKey}
	}
	k := batv.NewKeys(keys, []string{"new.key", "old.key"})
	state, _ := batv.OpenState(filepath.Join(t.TempDir(), "batv.state"))
	if !since.IsZero() {
		state.Signed(batv.NewKeys(keys[len(keys)-1:], nil), since)
	}
	e.bs = &backscatter{keys: k, state: state, action: config.ActionReject, now: func() time.Time { return bsNow },
		exclude: []string{"*-owner@example.org", "@lists.example.org", "noreply@example.org"},
		domains: map[string]domainBackscatter{"other.example": {action: config.ActionAccept}, "cloudy.example": {signsAll: true}}}
	return e
}

func bounceSample(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("bounce", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	// The samples' example.net and example.com would look like the
	// protected example.org to the lookalike rule.
	r := strings.NewReplacer("\n", "\r\n", "example.net", "far.example", "example.com", "far.example")
	return r.Replace(string(b))
}

func TestBackscatterSigning(t *testing.T) {
	w := newEngineWorld(t)
	e := withBackscatter(t, w.engine(t, "", "", "", Options{}), time.Time{})
	keys := batv.NewKeys([][]byte{bsKey}, nil)
	test := func(c Client, auth, from, want string) {
		t.Helper()
		m, v := e.Begin(context.Background(), c, from, auth)
		got := m.SignedSender()
		if v.EndsTransaction() || (want == "signed") != (got != "") {
			t.Fatalf("%s from %v auth %q: signed %q, verdict %s\n%s", from, c.IP, auth, got, v.Summary(), m.outcomeDump())
		}
		if got != "" && (keys.Verify(got, bsNow).Status != batv.Valid || batv.Strip(got) != strings.Trim(from, "<>")) {
			t.Errorf("%s signed as %s, which does not verify", from, got)
		}
	}
	out := Client{IP: netip.MustParseAddr("203.0.113.10")}
	inet := Client{IP: netip.MustParseAddr("192.0.2.50")}
	test(out, "", "alice@example.org", "signed")
	test(inet, "alice", "alice@example.org", "signed")
	test(out, "", "<bob@sub.edge.example>", "signed")
	test(Client{Local: true}, "", "www-data@example.org", "signed")
	test(inet, "", "news@partner.example", "no")
	test(out, "", "alice@partner.example", "no") // not a protected domain
	test(out, "", "", "no")
	test(out, "", "someone@other.example", "no") // backscatter = accept for the domain
	test(out, "", "team-owner@example.org", "no")
	test(out, "", "x@lists.example.org", "no")
	test(out, "", "NoReply@example.org", "no")
	test(out, "", "list-bounces+user=partner.example@example.org", "no") // VERP
	test(out, "", "SRS0=abcd=XY=partner.example=news@example.org", "no")
	m, _ := e.Begin(context.Background(), out, "alice@example.org", "")
	if m.Outcomes[len(m.Outcomes)-1].Result != "signed" || !strings.Contains(m.Outcomes[len(m.Outcomes)-1].Detail, "prvs=") {
		t.Errorf("signing not in the outcomes:\n%s", m.outcomeDump())
	}
}

// Mail submitted on the host (sendmail command) is signed and nothing
// else: no sender checks, even for a sender no rule would let through.
func TestBackscatterLocalSubmission(t *testing.T) {
	w := newEngineWorld(t)
	e := withBackscatter(t, w.engine(t, "", "", "", Options{}), time.Time{})
	m, stage, err := e.Run(context.Background(), Transaction{
		Client: Client{Local: true}, MailFrom: "ceo@strict.example", Rcpts: []string{"user@example.org"},
		Message: strings.NewReader(w.message(t, "CEO <ceo@strict.example>", "", "")),
	})
	if err != nil || m.Verdict().Action != config.ActionAccept || stage != StageBody || m.Class != ClassTrusted {
		t.Fatalf("local mail: %s at %s, class %s, %v\n%s", m.Verdict().Summary(), stage, m.Class, err, m.outcomeDump())
	}
	if len(m.Outcomes) != 0 || m.SPF != nil || len(m.DMARC) != 0 {
		t.Errorf("rules ran on local mail:\n%s", m.outcomeDump())
	}
}

// bounceTo runs a null-sender message from an Internet client to rcpt of
// the edge-MX domain.
func bounceTo(t *testing.T, e *Engine, rcpt, msg string) (*Message, Stage) {
	t.Helper()
	m, stage, err := e.Run(context.Background(), Transaction{
		Client:   Client{IP: netip.MustParseAddr("192.0.2.50"), Helo: "mx.remote.example"},
		MailFrom: "", Rcpts: []string{rcpt}, Message: strings.NewReader(msg),
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, stage
}

func TestBackscatterTags(t *testing.T) {
	w := newEngineWorld(t)
	dsn := bounceSample(t, "dsn-postfix.eml")
	keys := batv.NewKeys([][]byte{bsKey}, nil)
	valid := keys.Sign("alice@edge.example", bsNow.Add(-3*24*time.Hour))
	stale := keys.Sign("alice@edge.example", bsNow.Add(-8*24*time.Hour))
	forged := batv.NewKeys([][]byte{[]byte("a key of somebody else, 32 bytes")}, nil).Sign("alice@edge.example", bsNow)
	for _, c := range []struct {
		name, rcpt string
		action     config.Action
		stage      Stage
		says       string
	}{
		{"valid", valid, config.ActionAccept, StageBody, "valid BATV tag (key new.key"},
		{"expired", stale, config.ActionReject, StageRcpt, "expired 1 days ago"},
		{"forged", forged, config.ActionReject, StageRcpt, "made by none of our keys"},
		{"not ours at all", "prvs=1234abcdef=alice@edge.example", config.ActionReject, StageRcpt, "made by none of our keys"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := withBackscatter(t, w.engine(t, "", "", "", Options{}), bsNow.Add(-30*24*time.Hour))
			m, stage := bounceTo(t, e, c.rcpt, dsn)
			v := m.Verdict()
			if stage == StageRcpt {
				v = *m.Outcomes[len(m.Outcomes)-1].Verdict
			}
			if v.Effective() != c.action || stage != c.stage || !strings.Contains(m.outcomeDump(), c.says) {
				t.Fatalf("%s at %s, want %s at %s saying %q\n%s", v.Summary(), stage, c.action, c.stage, c.says, m.outcomeDump())
			}
			if c.action == config.ActionReject && (v.Rule != RuleBackscatter || v.Code != 550 || v.Status != "5.7.1" || !strings.Contains(v.Text, "not a bounce of our mail")) {
				t.Errorf("reply %q rule %s", v.Reply(), v.Rule)
			}
			if len(m.TagChecks()) != 1 {
				t.Errorf("tag checks: %+v", m.TagChecks())
			}
		})
	}
}

// With a new key put first, bounces to addresses the old key signed
// still pass; mail is signed with the new key.
func TestBackscatterRotation(t *testing.T) {
	w := newEngineWorld(t)
	e := withBackscatter(t, w.engine(t, "", "", "", Options{}), bsNow.Add(-30*24*time.Hour), bsKey, bsOldKey)
	old := batv.NewKeys([][]byte{bsOldKey}, nil).Sign("alice@edge.example", bsNow.Add(-2*24*time.Hour))
	m, stage := bounceTo(t, e, old, bounceSample(t, "dsn-postfix.eml"))
	if m.Verdict().Action != config.ActionAccept || stage != StageBody || !strings.Contains(m.outcomeDump(), "key old.key") {
		t.Fatalf("old key's tag after rotation: %s\n%s", m.Verdict().Summary(), m.outcomeDump())
	}
	s, _ := e.Begin(context.Background(), Client{IP: netip.MustParseAddr("203.0.113.10")}, "alice@example.org", "")
	if r := batv.NewKeys([][]byte{bsKey}, nil).Verify(s.SignedSender(), bsNow); r.Status != batv.Valid {
		t.Errorf("not signed with the new key: %s", s.SignedSender())
	}
}

func TestBackscatterUntagged(t *testing.T) {
	w := newEngineWorld(t)
	long := bsNow.Add(-8 * 24 * time.Hour)
	for _, c := range []struct {
		name, sample string
		since        time.Time
		action       config.Action
		stage        Stage
		says         string
	}{
		{"postfix bounce", "dsn-postfix.eml", long, config.ActionReject, StageHeaders, "without a BATV tag"},
		{"qmail bounce", "dsn-qmail.eml", long, config.ActionReject, StageHeaders, "failure notice"},
		{"text bounce, known by its body", "dsn-appliance-text.eml", long, config.ActionReject, StageBody, "did not reach"},
		{"read receipt", "mdn-thunderbird.eml", long, config.ActionAccept, StageBody, "read receipt"},
		{"vacation", "autoreply-sieve.eml", long, config.ActionAccept, StageBody, "auto-reply"},
		{"challenge", "challenge-tmda.eml", long, config.ActionAccept, StageBody, "challenge-response"},
		{"notice", "other-notice.eml", long, config.ActionAccept, StageBody, "not a bounce: other"},
		{"within the start-up window", "dsn-postfix.eml", bsNow.Add(-6 * 24 * time.Hour), config.ActionAccept, StageBody, "untagged bounces are judged from 2026-12-06"},
		{"signing never started", "dsn-postfix.eml", time.Time{}, config.ActionAccept, StageBody, "has not started"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := withBackscatter(t, w.engine(t, "", "", "", Options{}), c.since)
			m, stage := bounceTo(t, e, "alice@edge.example", bounceSample(t, c.sample))
			v := m.Verdict()
			if v.Effective() != c.action || stage != c.stage || !strings.Contains(m.outcomeDump(), c.says) {
				t.Fatalf("%s at %s, want %s at %s saying %q\n%s", v.Summary(), stage, c.action, c.stage, c.says, m.outcomeDump())
			}
			if c.action == config.ActionReject && v.Text != untaggedText {
				t.Errorf("reply %q", v.Reply())
			}
		})
	}
	// The domain's own setting turns the rule off.
	e := withBackscatter(t, w.engine(t, "", "", "", Options{}), long)
	m, _ := bounceTo(t, e, "alice@other.example", bounceSample(t, "dsn-postfix.eml"))
	if strings.Contains(m.outcomeDump(), RuleBackscatter) {
		t.Errorf("backscatter = accept still judged:\n%s", m.outcomeDump())
	}
}

// dsnReturning wraps a returned message (or its header, headersOnly) in a
// Postfix-style delivery status notification.
func dsnReturning(original string, headersOnly bool) string {
	part := "message/rfc822"
	if headersOnly {
		part = "text/rfc822-headers"
		original, _, _ = strings.Cut(original, "\r\n\r\n")
		original += "\r\n"
	}
	return "From: MAILER-DAEMON@mx.far.example (Mail Delivery System)\r\n" +
		"Subject: Undelivered Mail Returned to Sender\r\nTo: alice@edge.example\r\nAuto-Submitted: auto-replied\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B1\"\r\n\r\n" +
		"--B1\r\nContent-Type: text/plain\r\n\r\nThis is the mail system at host mx.far.example.\r\n\r\n" +
		"--B1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.far.example\r\n\r\n" +
		"Final-Recipient: rfc822; nobody@far.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n" +
		"--B1\r\nContent-Type: " + part + "\r\n\r\n" + original + "\r\n--B1--\r\n"
}

// A domain that signs all its mail judges an untagged bounce by the
// signature on the message it returns, before and after the start-up
// window, and whatever BATV says.
func TestBackscatterReturnedSignature(t *testing.T) {
	w := newEngineWorld(t)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	w.keys["edge.example"] = priv
	w.dns.MustAdd(t, `sel._domainkey.edge.example. IN TXT "v=DKIM1; k=ed25519; p=`+base64.StdEncoding.EncodeToString(pub)+`"`)
	plain := "From: Alice <alice@edge.example>\r\nTo: nobody@far.example\r\nSubject: figures\r\nDate: Sat, 5 Dec 2026 10:00:00 +0000\r\nMessage-ID: <f1@edge.example>\r\n\r\nHere they are.\r\n"
	ours := w.signAs(t, plain, "edge.example")
	altered := strings.Replace(ours, "Here they are.", "Here they were.", 1)
	lfOnly := strings.ReplaceAll(ours, "\r\n", "\n")
	for _, c := range []struct {
		name   string
		msg    string
		since  time.Time
		action config.Action
		says   string
	}{
		{"our signature, before the window", dsnReturning(ours, false), time.Time{}, config.ActionAccept, "carries a valid signature of edge.example"},
		{"our signature, tag stripped after the window", dsnReturning(ours, false), bsNow.Add(-30 * 24 * time.Hour), config.ActionAccept, "valid signature"},
		{"our signature, bare LF", dsnReturning(lfOnly, false), time.Time{}, config.ActionAccept, "valid signature"},
		{"no signature", dsnReturning(plain, false), time.Time{}, config.ActionReject, "carries no valid signature of edge.example"},
		{"someone else's signature", dsnReturning(w.signAs(t, plain, "partner.example"), false), time.Time{}, config.ActionReject, "no valid signature"},
		{"altered", dsnReturning(altered, false), time.Time{}, config.ActionReject, "no valid signature"},
		{"header only, no signature", dsnReturning(plain, true), time.Time{}, config.ActionReject, "has no DKIM signature of edge.example"},
		{"header only, our signature", dsnReturning(ours, true), time.Time{}, config.ActionAccept, "cannot be verified without the body"},
		{"no returned message", bounceSample(t, "dsn-qmail.eml"), time.Time{}, config.ActionAccept, "returns no message"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := withBackscatter(t, w.engine(t, "", "", "", Options{}), c.since)
			e.bs.domains["edge.example"] = domainBackscatter{signsAll: true}
			m, stage := bounceTo(t, e, "alice@edge.example", c.msg)
			v := m.Verdict()
			if v.Effective() != c.action || stage != StageBody || !strings.Contains(m.outcomeDump(), c.says) {
				t.Fatalf("%s at %s, want %s saying %q\n%s", v.Summary(), stage, c.action, c.says, m.outcomeDump())
			}
			if c.action == config.ActionReject && v.Text != notOursDKIMText {
				t.Errorf("reply %q", v.Reply())
			}
		})
	}
	// DNS failing for our key never turns into a reject.
	e := withBackscatter(t, w.engine(t, "", "", "", Options{}), time.Time{})
	e.bs.domains["edge.example"] = domainBackscatter{signsAll: true}
	w.dns.SetFault("sel._domainkey.edge.example", dnstest.ServFail)
	m, _ := bounceTo(t, e, "alice@edge.example", dsnReturning(ours, false))
	if v := m.Verdict(); v.Action == config.ActionReject || !strings.Contains(m.outcomeDump(), "could not be checked (DNS)") {
		t.Errorf("DNS failure: %s\n%s", v.Summary(), m.outcomeDump())
	}
}

func TestBackscatterVerdictHeader(t *testing.T) {
	w := newEngineWorld(t)
	e := withBackscatter(t, w.engine(t, "", "", "", Options{}), time.Time{})
	valid := batv.NewKeys([][]byte{bsKey}, nil).Sign("alice@edge.example", bsNow)
	m, _ := bounceTo(t, e, valid, bounceSample(t, "dsn-postfix.eml"))
	if got := m.VerdictHeader(); got != "accept; batv=valid" {
		t.Errorf("valid tag: verdict header %q", got)
	}
	s, _ := e.Begin(context.Background(), Client{IP: netip.MustParseAddr("203.0.113.10")}, "alice@example.org", "")
	if got := s.VerdictHeader(); got != "accept; batv=signed" {
		t.Errorf("signed sender: verdict header %q", got)
	}
	plain, _ := e.Begin(context.Background(), Client{IP: netip.MustParseAddr("192.0.2.50")}, "x@partner.example", "")
	if got := plain.VerdictHeader(); got != "accept" {
		t.Errorf("BATV not involved: verdict header %q", got)
	}
}

// The rule is built from the configuration: keys from their files, the
// per-domain settings; with neither keys nor dkim_signs_all it is off.
func TestBackscatterFromConfig(t *testing.T) {
	w := newEngineWorld(t)
	if e := w.engine(t, "", "", "", Options{}); e.bs != nil {
		t.Fatalf("no keys: the rule is built")
	}
	key := filepath.Join(t.TempDir(), "batv.key")
	if err := batv.WriteNewKey(key); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "batv.state")
	e := w.engine(t, "", "", fmt.Sprintf("dkim_signs_all = true\n[backscatter]\nkeys = [%q]\nstate = %q\n", key, state), Options{})
	m, _ := e.Begin(context.Background(), Client{IP: netip.MustParseAddr("203.0.113.10")}, "alice@example.org", "")
	keys, _ := batv.LoadKeys([]string{key})
	if r := keys.Verify(m.SignedSender(), time.Now()); r.Status != batv.Valid || r.KeyName != key {
		t.Fatalf("signed %q: %+v", m.SignedSender(), r)
	}
	if !e.bs.domains["example.org"].signsAll || e.bs.actionFor(e.protected("example.org")) != config.ActionReject {
		t.Errorf("domain settings: %+v", e.bs.domains)
	}
	m.MarkSigned()
	raw, err := os.ReadFile(state)
	secret, _ := batv.LoadKeyFile(key)
	if err != nil || !strings.Contains(string(raw), batv.Fingerprint(secret)) {
		t.Errorf("state after the first signing: %v\n%s", err, raw)
	}
}

// Untagged null-sender mail from an own server (an internal server's
// bounce to a colleague) and to postmaster is not judged.
func TestBackscatterExemptions(t *testing.T) {
	w := newEngineWorld(t)
	e := withBackscatter(t, w.engine(t, "", "", "", Options{}), bsNow.Add(-30*24*time.Hour))
	dsn := bounceSample(t, "dsn-postfix.eml")
	for _, c := range []struct {
		name, ip, rcpt, says string
	}{
		{"own outbound server", "203.0.113.10", "alice@edge.example", "from an own client (outbound)"},
		{"postmaster", "192.0.2.50", "PostMaster@edge.example", "postmaster takes every report"},
	} {
		m, _, err := e.Run(context.Background(), Transaction{Client: Client{IP: netip.MustParseAddr(c.ip), Helo: "mx.remote.example"},
			Rcpts: []string{c.rcpt}, Message: strings.NewReader(dsn)})
		if err != nil || m.Verdict().Action != config.ActionAccept || !strings.Contains(m.outcomeDump(), c.says) {
			t.Errorf("%s: %s %v\n%s", c.name, m.Verdict().Summary(), err, m.outcomeDump())
		}
	}
}

// What a bounce's body costs is bounded: 4 KiB when only its kind is
// in question, 512 KiB when the returned message is to be verified; a
// larger bounce is judged without it.
func TestBackscatterBodyBound(t *testing.T) {
	w := newEngineWorld(t)
	big := bounceSample(t, "dsn-appliance-text.eml") + strings.Repeat("x\r\n", 400<<10)
	e := withBackscatter(t, w.engine(t, "", "", "", Options{}), bsNow.Add(-30*24*time.Hour))
	m, _ := bounceTo(t, e, "alice@edge.example", big)
	if len(m.bs.body) != classifyBody || m.Verdict().Rule != RuleBackscatter {
		t.Errorf("kind from the body: kept %d bytes, verdict %s", len(m.bs.body), m.Verdict().Summary())
	}
	e.bs.domains["edge.example"] = domainBackscatter{signsAll: true}
	m, _ = bounceTo(t, e, "alice@edge.example", dsnReturning(strings.Repeat("y", 600<<10), false))
	if len(m.bs.body) != maxBounceBody || !strings.Contains(m.outcomeDump(), "larger than 512 KiB") {
		t.Errorf("returned message: kept %d bytes\n%s", len(m.bs.body), m.outcomeDump())
	}
}
