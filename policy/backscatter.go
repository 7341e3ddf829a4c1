package policy

import (
	"path"
	"strings"
	"time"

	"github.com/spoofguard/spoofguard/batv"
	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/policy/bounce"
)

// RuleBackscatter refuses bounces of mail we never sent: null-sender mail
// to a protected address whose BATV tag does not verify, or a bounce with
// no tag once every real bounce carries one.
const RuleBackscatter = "backscatter"

// maxBounceBody is how much of a bounce's body is kept to verify the
// message it returns. A bounce that returns more is judged without the
// returned message.
const maxBounceBody = 512 << 10

// classifyBody is how much is kept when the body is needed only to tell
// what the message is: the bounce texts are looked for near the top.
const classifyBody = 4 << 10

// backscatter is the engine's BATV machinery, built once per engine from
// the configuration.
type backscatter struct {
	keys    *batv.Keys // nil or empty: no signing, no tag checks
	state   *batv.State
	action  config.Action // [backscatter] action
	domains map[string]domainBackscatter
	exclude []string // envelope senders never rewritten, lower-case patterns
	now     func() time.Time
}

// domainBackscatter is one protected domain's setting.
type domainBackscatter struct {
	action   config.Action // "" inherits [backscatter] action; accept turns BATV off for the domain
	signsAll bool          // every outbound message carries the domain's DKIM signature
}

// backscatterState is what one transaction holds for the rule.
type backscatterState struct {
	signed    string   // the tagged envelope sender to set at end of message
	pending   []string // protected recipients of a null-sender message without a tag
	class     bounce.Class
	body      []byte
	keepBody  bool
	keepLimit int // bytes of the body kept: classifyBody or maxBounceBody
	truncated bool
	judged    bool
	tags      []TagCheck
}

// TagCheck is what the engine found about one tagged recipient.
type TagCheck struct {
	Rcpt   string
	Result batv.Result
}

// enabled reports whether BATV is on for the protected domain d.
func (b *backscatter) enabled(d *config.DomainConfig) bool {
	return b != nil && d != nil && b.actionFor(d) != config.ActionAccept
}

func (b *backscatter) actionFor(d *config.DomainConfig) config.Action {
	if a := b.domains[d.Name].action; a != "" {
		return a
	}
	if b.action == "" {
		return config.ActionReject
	}
	return b.action
}

func (b *backscatter) signing() bool { return b != nil && b.keys.Len() > 0 }

// excluded reports whether the envelope sender must keep its form:
// configured patterns (an address, a glob such as "*-bounces@example.org",
// or "@domain"), and any local part with "=", which is how SRS, VERP and
// tags already applied encode another address (mailing-list software
// matches such senders against what it sent).
func (b *backscatter) excluded(addr string) bool {
	a := strings.ToLower(addr)
	local := a[:max(strings.LastIndexByte(a, '@'), 0)]
	if strings.Contains(local, "=") {
		return true
	}
	for _, p := range b.exclude {
		if p == a || (strings.HasPrefix(p, "@") && strings.HasSuffix(a, p)) {
			return true
		}
		if ok, _ := path.Match(p, a); ok {
			return true
		}
	}
	return false
}

// planSigning decides at MAIL FROM whether the envelope sender gets a tag:
// own senders (trusted, authenticated, outbound) with an address in a
// protected domain that has BATV on. The tag is set at end of message.
func (m *Message) planSigning() {
	b := m.e.bs
	if !b.signing() || m.MailFrom == "" || !m.Class.mayUseOwnDomains() {
		return
	}
	d := m.e.protected(DomainOf(m.MailFrom))
	switch {
	case !b.enabled(d):
		return
	case b.excluded(m.MailFrom):
		m.outcome(RuleBackscatter, StageMailFrom, "not applicable", "envelope sender "+m.MailFrom+" is excluded from BATV signing", nil)
		return
	}
	m.bs.signed = b.keys.Sign(m.MailFrom, b.now())
	if m.bs.signed != m.MailFrom {
		m.outcome(RuleBackscatter, StageMailFrom, "signed", "envelope sender "+m.MailFrom+" becomes "+m.bs.signed, nil)
	}
}

// SignedSender is the BATV-tagged envelope sender the MTA is to use
// instead of MailFrom (the milter's change-sender action at end of
// message), or "" when the sender stays as it is.
func (m *Message) SignedSender() string {
	if m.bs.signed == "" || m.verdict.EndsTransaction() {
		return ""
	}
	return m.bs.signed
}

// MarkSigned tells the engine the MTA took the tagged sender: the first
// time a key signs starts the window after which untagged bounces are
// judged. The offline check never calls it.
func (m *Message) MarkSigned() {
	if m.bs.signed != "" {
		m.e.bs.state.Signed(m.e.bs.keys, m.e.bs.now())
	}
}

// TagChecks lists the tagged recipients and what verification said.
func (m *Message) TagChecks() []TagCheck { return m.bs.tags }

// batvSummary is what the verdict header says about BATV: "" when it
// played no part, else "; batv=" and the tag results of the recipients
// (valid, invalid, expired) or "signed" for a sender that got a tag.
func (m *Message) batvSummary() string {
	var parts []string
	for _, tc := range m.bs.tags {
		parts = append(parts, string(tc.Result.Status))
	}
	if m.SignedSender() != "" {
		parts = append(parts, "signed")
	}
	if len(parts) == 0 {
		return ""
	}
	return "; batv=" + strings.Join(parts, ",")
}

// newBackscatter builds the rule's machinery from the configuration; nil
// when no key is configured and no domain signs all its mail, so that the
// rule costs nothing where it is not used. A state file that cannot be
// read leaves the window to start afresh, which delays refusing untagged
// bounces and never refuses a real one.
func newBackscatter(cfg *config.Config) *backscatter {
	bc := &cfg.Backscatter
	b := &backscatter{action: bc.Action, exclude: bc.Exclude, now: time.Now,
		domains: make(map[string]domainBackscatter, len(cfg.Domains))}
	signsAll := false
	for _, d := range cfg.Domains {
		b.domains[d.Name] = domainBackscatter{action: d.Backscatter, signsAll: d.DKIMSignsAll}
		signsAll = signsAll || d.DKIMSignsAll
	}
	if len(bc.Secrets()) == 0 && !signsAll {
		return nil
	}
	b.keys = batv.NewKeys(bc.Secrets(), bc.Keys)
	b.state, _ = batv.OpenState(bc.State)
	return b
}
