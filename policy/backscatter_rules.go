package policy

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spoofguard/spoofguard/batv"
	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/dnsauth/dkim"
	"github.com/spoofguard/spoofguard/policy/bounce"
)

// The reply texts of the rule: the sender is a mail server that bounced
// forged mail, so the text says what happened in its terms.
const (
	badTagText      = "not a bounce of our mail: the address tag is invalid"
	staleTagText    = "not a bounce of our mail: the address tag has expired"
	untaggedText    = "not a bounce of our mail: we sign every envelope sender and this bounce is not addressed to one"
	notOursDKIMText = "not a bounce of our mail: the returned message does not carry our signature"
)

// checkTag runs at RCPT TO for null-sender mail (RFC 5321 §4.5.5: bounces
// use the null reverse-path) to a protected address with BATV on. A tagged
// recipient is decided at once; an untagged one waits for the headers.
func (m *Message) checkTag(rcpt string) Verdict {
	b := m.e.bs
	if m.MailFrom != "" || b == nil {
		return Accept
	}
	d := m.e.protected(DomainOf(rcpt))
	if !b.enabled(d) {
		return Accept
	}
	// Without keys (only dkim_signs_all is on) a tag proves nothing either
	// way: the recipient is judged like an untagged one.
	if !batv.IsTagged(rcpt) || !b.signing() {
		m.holdUntagged(rcpt)
		return Accept
	}
	r := b.keys.Verify(rcpt, b.now())
	m.bs.tags = append(m.bs.tags, TagCheck{Rcpt: rcpt, Result: r})
	if r.Status == batv.Valid {
		m.outcome(RuleBackscatter, StageRcpt, "pass", rcpt+": "+TagWords(r), nil)
		return Accept
	}
	text := badTagText
	if r.Status == batv.Expired {
		text = staleTagText
	}
	m.fire(RuleBackscatter, StageRcpt, b.actionFor(d), d, d.Name, text, "bounce to "+rcpt+": "+TagWords(r))
	return m.lastVerdict()
}

// TagWords explains a verification result: which key, which day.
func TagWords(r batv.Result) string {
	day := fmt.Sprintf("expiry day %03d", r.Tag.Day)
	switch r.Status {
	case batv.Valid:
		return fmt.Sprintf("valid BATV tag (key %s, %s, %d more days)", r.KeyName, day, r.DaysLeft)
	case batv.Expired:
		return fmt.Sprintf("BATV tag made by key %s expired %d days ago (%s)", r.KeyName, r.DaysAgo, day)
	case batv.BadTag:
		return fmt.Sprintf("BATV tag (key digit %c, %s) made by none of our keys: forged, altered or signed with a retired key", r.Tag.Key, day)
	}
	return "no BATV tag"
}

// judgeBounce decides the untagged recipients once the evidence allows:
// at end of headers when the header block says what the message is and
// nothing later could change the outcome, else at end of body.
func (m *Message) judgeBounce(ctx context.Context, stage Stage) {
	if len(m.bs.pending) == 0 || m.bs.judged || m.decided() {
		return
	}
	// Our own servers' notices (an internal server's bounce to a
	// colleague) never went out through us, so they carry no tag.
	if _, _, class := m.evaluated(); class.mayUseOwnDomains() {
		m.bs.judged = true
		m.outcome(RuleBackscatter, stage, "not applicable", joinComma(m.bs.pending)+": null-sender mail from an own client ("+string(class)+")", nil)
		return
	}
	if stage == StageHeaders {
		m.bs.class = bounce.Classify(m.bounceFields(), nil)
	} else if m.bs.class.NeedBody {
		m.bs.class = bounce.Classify(m.bounceFields(), m.bs.body)
	}
	d := m.e.protected(DomainOf(m.bs.pending[0]))
	if stage == StageHeaders && m.bounceNeedsBody(d) {
		m.bs.keepBody, m.bs.keepLimit = true, classifyBody
		if m.e.bs.domains[d.Name].signsAll {
			m.bs.keepLimit = maxBounceBody
		}
		return
	}
	m.bs.judged = true
	m.judgeUntagged(ctx, stage, d)
}

// bounceNeedsBody reports whether the decision waits for the body: the
// kind is not known from the header block, or the domain signs all its
// mail and the returned message's signature may tell more.
func (m *Message) bounceNeedsBody(d *config.DomainConfig) bool {
	return m.bs.class.NeedBody || (m.bs.class.Kind.IsBounce() && m.e.bs.domains[d.Name].signsAll)
}

func (m *Message) judgeUntagged(ctx context.Context, stage Stage, d *config.DomainConfig) {
	c := m.bs.class
	rcpts := joinComma(m.bs.pending)
	if !c.Kind.IsBounce() {
		m.outcome(RuleBackscatter, stage, "not applicable", rcpts+": null-sender mail but not a bounce: "+string(c.Kind)+" ("+c.Reason+")", nil)
		return
	}
	if m.e.bs.domains[d.Name].signsAll && stage == StageBody {
		if m.judgeByOriginal(ctx, d, rcpts) {
			return
		}
	}
	m.judgeByWindow(stage, d, rcpts)
}

// judgeByWindow refuses an untagged bounce once signing has run a whole
// tag lifetime; before that, bounces of mail sent untagged still arrive.
func (m *Message) judgeByWindow(stage Stage, d *config.DomainConfig, rcpts string) {
	b := m.e.bs
	if !b.signing() {
		m.outcome(RuleBackscatter, stage, "not applicable", rcpts+": untagged bounce, but no BATV key is configured", nil)
		return
	}
	since := b.state.Since(b.keys)
	if !b.state.Judging(b.keys, b.now()) {
		m.outcome(RuleBackscatter, stage, "not judged", rcpts+": untagged bounce ("+m.bs.class.Reason+"); "+windowWords(since), nil)
		return
	}
	m.fire(RuleBackscatter, stage, b.actionFor(d), d, d.Name, untaggedText,
		"bounce ("+m.bs.class.Reason+") to "+rcpts+" without a BATV tag, though every envelope sender has been signed since "+since.Format(time.DateOnly))
}

func windowWords(since time.Time) string {
	if since.IsZero() {
		return "BATV signing has not started yet, so untagged bounces are not judged"
	}
	return "BATV signing started " + since.Format(time.DateOnly) + "; untagged bounces are judged from " +
		since.Add(batv.Lifetime*24*time.Hour).Format(time.DateOnly)
}

// judgeByOriginal decides by the returned message of a domain that signs
// all its mail with DKIM: our valid signature proves the bounce real
// (whatever the tag: some servers strip it); no valid signature of ours
// proves we never sent it. It reports false when it could not decide.
func (m *Message) judgeByOriginal(ctx context.Context, d *config.DomainConfig, rcpts string) bool {
	if m.bs.truncated {
		m.outcome(RuleBackscatter, StageBody, "not judged", rcpts+": the bounce is larger than "+fmt.Sprint(maxBounceBody>>10)+" KiB; its returned message is not verified", nil)
		return false
	}
	ret, err := bounce.Original(firstValue(m.headerValues("Content-Type")), m.bs.body)
	if err != nil {
		m.outcome(RuleBackscatter, StageBody, "not judged", rcpts+": "+err.Error()+" that can be verified", nil)
		return false
	}
	res, why := m.ownSignature(ctx, d, ret)
	switch res {
	case dnsauth.Pass:
		m.outcome(RuleBackscatter, StageBody, "pass", rcpts+": "+why, nil)
	case dnsauth.TempError:
		m.temperror(RuleBackscatter, StageBody, m.e.bs.actionFor(d), d, d.Name, rcpts+": "+why)
	case dnsauth.Fail:
		m.fire(RuleBackscatter, StageBody, m.e.bs.actionFor(d), d, d.Name, notOursDKIMText,
			"bounce ("+m.bs.class.Reason+") to "+rcpts+": "+why+"; "+d.Name+" signs all its mail, so it never sent this")
	default:
		m.outcome(RuleBackscatter, StageBody, "not judged", rcpts+": "+why, nil)
		return false
	}
	return true
}

// ownSignature looks for d's DKIM signature on a returned message: Pass
// when one verifies, Fail when there is none or none verifies, TempError
// when DNS failed, None when it cannot be known (a header-only return
// that carries our signature: without the body it cannot be verified).
func (m *Message) ownSignature(ctx context.Context, d *config.DomainConfig, ret bounce.Returned) (dnsauth.Result, string) {
	if ret.HeadersOnly {
		if hasOwnSignatureField(ret.Message, d.Name) {
			return dnsauth.None, "the returned header carries a signature of " + d.Name + ", which cannot be verified without the body"
		}
		return dnsauth.Fail, "the returned header has no DKIM signature of " + d.Name
	}
	results := dkim.Verify(ctx, m.e.dns, bytesReader(crlf(ret.Message)), dkim.Options{MaxSignatures: m.e.cfg.DKIM.MaxSignatures})
	worst := dnsauth.Fail
	for _, r := range results {
		if !aligned(r.Domain, d.Name) {
			continue
		}
		switch r.Result {
		case dnsauth.Pass:
			return dnsauth.Pass, "the returned message carries a valid signature of " + r.Domain
		case dnsauth.TempError:
			worst = dnsauth.TempError
		}
	}
	if worst == dnsauth.TempError {
		return worst, "the signature of " + d.Name + " on the returned message could not be checked (DNS)"
	}
	return dnsauth.Fail, "the returned message carries no valid signature of " + d.Name
}

// keepBounceBody retains the start of a bounce's body while its decision
// waits for it.
func (m *Message) keepBounceBody(chunk []byte) {
	room := m.bs.keepLimit - len(m.bs.body)
	if len(chunk) > room {
		chunk = chunk[:room]
		m.bs.truncated = true
	}
	m.bs.body = append(m.bs.body, chunk...)
}

func (m *Message) bounceFields() []bounce.Field {
	fields := make([]bounce.Field, len(m.headers))
	for i, h := range m.headers {
		fields[i] = bounce.Field{Name: h.Name, Value: h.Value}
	}
	return fields
}

// holdUntagged keeps an untagged recipient for the judgement at end of
// headers. postmaster is exempt: RFC 5321 §4.5.1 makes every site accept
// mail for it, and reports to it need not answer mail it sent.
func (m *Message) holdUntagged(rcpt string) {
	local := rcpt[:max(strings.LastIndexByte(rcpt, '@'), 0)]
	if strings.EqualFold(local, "postmaster") {
		m.outcome(RuleBackscatter, StageRcpt, "not applicable", rcpt+": postmaster takes every report", nil)
		return
	}
	m.bs.pending = append(m.bs.pending, rcpt)
}
