package policy

import (
	"fmt"
	"strings"

	"github.com/spoofguard/spoofguard/config"
)

// Rule names, as they appear in logs, metrics, headers and replies.
const (
	RuleDirectDelivery  = "direct-delivery"
	RuleEnvelopeForgery = "envelope-forgery"
	RuleHeaderForgery   = "header-forgery"
	RuleDMARC           = "dmarc"
	RuleSPF             = "spf"
	RuleRelayTrace      = "relay-trace"
)

// Rules lists every rule in the order the engine reports them.
var Rules = []string{RuleDirectDelivery, RuleEnvelopeForgery, RuleHeaderForgery, RuleDMARC, RuleSPF, RuleRelayTrace,
	RuleDisplayName, RuleLookalike, RuleBackscatter}

// Stage is the point of the SMTP dialogue where evidence is complete
// enough for a rule to decide.
type Stage int

// The stages, in the order the MTA reaches them.
const (
	StageMailFrom Stage = iota + 1
	StageRcpt
	StageHeaders
	StageBody
)

func (s Stage) String() string {
	switch s {
	case StageMailFrom:
		return "mail-from"
	case StageRcpt:
		return "rcpt"
	case StageHeaders:
		return "end-of-headers"
	case StageBody:
		return "end-of-body"
	}
	return "unknown"
}

// Verdict is the engine's answer at a stage: what to do with the message
// (or, at RCPT TO, with that recipient), the SMTP reply that goes with it,
// the rule that decided and why.
type Verdict struct {
	Action     config.Action
	Code       int    // SMTP reply code: 550, 451; 0 for accept and quarantine
	Status     string // enhanced status code (RFC 3463): "5.7.1"
	Text       string // short reply text
	Rule       string // the deciding rule; "" for a plain accept
	Domain     string // the protected or author domain concerned, if any
	Reason     string // the long explanation, for logs and `spoofguard check`
	ReportOnly bool   // report-only: Action is what would have been done; nothing is enforced
	Stage      Stage
}

// Accept is the verdict when no rule objects.
var Accept = Verdict{Action: config.ActionAccept}

// Effective is the action the MTA is told to take: the verdict's own,
// except in report-only mode where everything is accepted.
func (v Verdict) Effective() config.Action {
	if v.ReportOnly {
		return config.ActionAccept
	}
	return v.Action
}

// EndsTransaction reports whether the MTA is told to refuse: the
// effective action refuses.
func (v Verdict) EndsTransaction() bool { return v.Effective().Refuses() }

// Enforced reports whether the verdict changes what the MTA does.
func (v Verdict) Enforced() bool { return v.Effective() != config.ActionAccept }

// moreSevere reports whether v should replace w as the message's verdict.
// Between equal actions the earlier verdict stands, so the rule that
// decided first is the one reported.
func (v Verdict) moreSevere(w Verdict) bool {
	return v.Action.Severity() > w.Action.Severity()
}

// Reply is the SMTP reply line, e.g. "550 5.7.1 text"; "" when the verdict
// sends no reply of its own.
func (v Verdict) Reply() string {
	if v.Code == 0 {
		return ""
	}
	return fmt.Sprintf("%d %s %s", v.Code, v.Status, v.Text)
}

// Summary is the short form used in the verdict header and log lines:
// "reject rule=header-forgery", with "report-only" when not enforced.
func (v Verdict) Summary() string {
	var b strings.Builder
	b.WriteString(string(v.Action))
	if v.Rule != "" {
		b.WriteString(" rule=")
		b.WriteString(v.Rule)
	}
	if v.Domain != "" {
		b.WriteString(" domain=")
		b.WriteString(v.Domain)
	}
	if v.ReportOnly {
		b.WriteString(" (report-only, not enforced)")
	}
	return b.String()
}

// verdictFor builds the verdict of a rule that fired with action a.
func verdictFor(a config.Action, rule, domain, text, reason string, stage Stage) Verdict {
	v := Verdict{Action: a, Rule: rule, Domain: domain, Reason: reason, Stage: stage}
	switch a {
	case config.ActionReject:
		v.Code, v.Status, v.Text = 550, "5.7.1", text
		if rule == RuleSPF {
			v.Status = "5.7.23" // RFC 7372: SPF validation failed
		}
	case config.ActionTempFail:
		v.Code, v.Status, v.Text = 451, "4.7.1", text
	}
	return v
}

// temperrorText is the reply for a rule that could not decide because DNS
// failed; it never blames the sender.
const temperrorText = "temporary failure checking the sender, try again later"
