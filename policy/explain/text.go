package explain

import (
	"fmt"
	"io"
	"strings"

	"github.com/spoofguard/spoofguard/policy"
)

// WriteText writes the report as a readable trace, in the order the
// evidence was gathered: the inputs and where they came from, the path
// and the client, SPF, DKIM, DMARC, every rule's outcome, the verdict
// with its SMTP reply, and the headers the daemon removes and adds.
func (r *Report) WriteText(w io.Writer) error {
	t := &textWriter{w: w}
	r.textInputs(t)
	r.textPath(t)
	r.textClient(t)
	r.textSPF(t)
	r.textDKIM(t)
	r.textTrust(t)
	r.textDMARC(t)
	r.textRules(t)
	r.textRecipients(t)
	r.textVerdict(t)
	r.textHeaders(t)
	return t.err
}

// textWriter remembers the first write error so the sections need not.
type textWriter struct {
	w   io.Writer
	err error
}

func (t *textWriter) line(format string, args ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, format+"\n", args...)
	}
}

// item writes "  label  value" with the labels of a section aligned.
func (t *textWriter) item(label, value string) {
	t.line("  %-10s %s", label, value)
}

func (r *Report) textInputs(t *textWriter) {
	t.line("Inputs")
	in := r.Inputs
	t.item("client IP", in.ClientIP.Value+"  ← "+in.ClientIP.Source)
	t.item("HELO", orNone(in.Helo.Value)+"  ← "+in.Helo.Source)
	if a := in.AuthUser; a != nil {
		t.item("SMTP AUTH", a.Value+"  ← "+a.Source)
	}
	t.item("MAIL FROM", "<"+in.MailFrom.Value+">  ← "+in.MailFrom.Source)
	for _, rc := range in.Rcpts {
		t.item("RCPT TO", "<"+rc.Value+">  ← "+rc.Source)
	}
}

func (r *Report) textPath(t *textWriter) {
	t.line("")
	if r.Path.Kind == "relayed" {
		t.line("Path: relayed through %s", quote(r.Path.Relay))
	} else {
		t.line("Path: delivered directly")
	}
	for _, s := range r.Path.Summary {
		t.line("  %s", s)
	}
	if r.Path.Received != "" {
		t.line("  Received header #%d: %s", *r.Path.HeaderIndex, r.Path.Received)
	}
}

func (r *Report) textClient(t *textWriter) {
	c := r.Client
	t.line("")
	t.line("Client")
	class := string(c.Class)
	if c.Relay != "" {
		class += " " + quote(c.Relay)
	}
	t.item("connected", c.IP+", HELO "+orNone(c.Helo))
	t.item("class", class+": "+c.Reason)
	if o := r.Path.OriginalClient; o != nil {
		t.item("judged", o.IP+", HELO "+orNone(o.Helo)+", class "+string(o.Class)+" (the relay's client)")
	}
	from := strings.Join(r.From.Addresses, ", ")
	if r.From.Problem != "" {
		from = strings.TrimSpace(from + " (" + r.From.Problem + ")")
	}
	if r.beforeHeaders() {
		from = "not read: the transaction ended at " + stageWords(r.Ended) + ", before the headers"
	}
	t.item("From", orNone(from))
	for _, sm := range r.AuthorizedSenders {
		t.item("authorised", fmt.Sprintf("sender %q of %s: %s", sm.Name, sm.Domain, sm.Proof))
	}
}

func (r *Report) textSPF(t *textWriter) {
	t.line("")
	s := r.SPF
	if s == nil {
		t.line("SPF: not checked: %s", r.skipped(policy.RuleEnvelopeForgery, "sender checks"))
		return
	}
	client := s.IP
	if client == "" {
		client = "unknown"
	}
	t.line("SPF: %s for %s (identity %s, client %s)", s.Result, orNone(s.Domain), s.Identity, client)
	t.item("reason", s.Reason)
	for i, step := range s.Trace {
		label := ""
		if i == 0 {
			label = "steps"
		}
		t.item(label, step)
	}
}

func (r *Report) textDKIM(t *textWriter) {
	t.line("")
	switch {
	case len(r.DKIM) > 0:
		t.line("DKIM: %d signature(s)", len(r.DKIM))
	case r.beforeHeaders():
		t.line("DKIM: not verified: the transaction ended at %s, before the headers", stageWords(r.Ended))
		return
	case !r.hadDKIMHeader:
		t.line("DKIM: none: the message has no DKIM-Signature header")
		return
	default:
		t.line("DKIM: not verified: %s", r.skipped(policy.RuleHeaderForgery, "DKIM verification"))
		return
	}
	for _, d := range r.DKIM {
		line := fmt.Sprintf("d=%s s=%s a=%s", d.Domain, d.Selector, d.Algorithm)
		if d.Reason != "" {
			line += ": " + d.Reason
		}
		t.item(string(d.Result), line)
	}
}

func (r *Report) textDMARC(t *textWriter) {
	t.line("")
	if len(r.DMARC) == 0 {
		t.line("DMARC: not evaluated: %s", r.skipped(policy.RuleDMARC, "DMARC"))
		return
	}
	t.line("DMARC")
	for _, d := range r.DMARC {
		t.item(string(d.Result), d.FromDomain+": "+d.Reason)
		if d.RecordDomain != "" {
			t.item("", fmt.Sprintf("record at _dmarc.%s: p=%s sp=%s np=%s pct=%d", d.RecordDomain,
				orDash(d.P), orDash(d.SP), orDash(d.NP), d.Pct))
		}
		if d.Policy != "" {
			sampled := ""
			if !d.Sampled {
				sampled = ", not sampled by pct"
			}
			t.item("", fmt.Sprintf("policy for this message: %s=%s%s", d.PolicyTag, d.Policy, sampled))
		}
		t.item("", fmt.Sprintf("aligned: SPF %s, DKIM %s", yesNo(d.SPFAligned), yesNo(d.DKIMAligned)+alignedBy(d.AlignedDKIM)))
	}
}

// beforeHeaders reports whether the transaction ended before the MTA
// passed the headers on.
func (r *Report) beforeHeaders() bool {
	return r.Ended == policy.StageMailFrom.String() || r.Ended == policy.StageRcpt.String()
}

// skipped says why a method left no result: the rule that would have
// needed it was not applicable, or the transaction ended first.
func (r *Report) skipped(rule, what string) string {
	for _, o := range r.Outcomes {
		if o.Rule == rule && o.Result == "not applicable" && strings.HasPrefix(o.Detail, "client is ") {
			return o.Detail + ", which is not checked"
		}
		if o.Rule == rule && o.Result == "not applicable" && rule == policy.RuleDMARC {
			return o.Detail
		}
	}
	if r.Ended != policy.StageBody.String() {
		return "the transaction ended at " + stageWords(r.Ended) + ", before " + what
	}
	return "no rule needed it"
}

func (r *Report) textRules(t *textWriter) {
	t.line("")
	t.line("Rules")
	for _, o := range r.Outcomes {
		detail := o.Detail
		if o.Action != "" {
			detail += " → " + string(o.Action)
			if o.ReportOnly {
				detail += " (report-only)"
			}
		}
		t.line("  %-16s %-14s %-14s %s", o.Rule, o.Stage, o.Result, detail)
	}
}

func (r *Report) textRecipients(t *textWriter) {
	t.line("")
	t.line("Recipients")
	for _, rc := range r.Recipients {
		line := "<" + rc.Address + ">  "
		switch rc.Status {
		case "refused":
			line += "refused at RCPT TO: " + rc.Reply
		case "not reached":
			line += "not reached: " + rc.Detail
		default:
			line += rc.Status + " at RCPT TO"
		}
		t.line("  %s", line)
	}
}

func (r *Report) textVerdict(t *textWriter) {
	t.line("")
	t.line("Verdict: %s", r.Verdict)
	if r.Rule != "" {
		how := "rule " + r.Rule
		if r.Domain != "" {
			how += " (domain " + r.Domain + ")"
		}
		how += " at " + stageWords(r.Stage)
		if r.ReportOnly {
			how += ", report-only: not enforced"
		}
		t.item("decided", how)
	}
	t.item("ended", "the transaction ended at "+stageWords(r.Ended))
	t.item("reply", r.Reply)
	if r.Reason != "" {
		t.item("reason", r.Reason)
	}
	if w := r.Would; w != nil {
		t.item("would", fmt.Sprintf("%s by rule %s at %s: %s (report-only mode kept it from being enforced)", w.Action, w.Rule, stageWords(w.Stage), w.Reply))
	}
}

func (r *Report) textHeaders(t *textWriter) {
	r.textRemoved(t)
	t.line("")
	if r.VerdictHeader == nil {
		t.line("Headers the daemon adds: none, the message is refused")
		return
	}
	t.line("Headers the daemon adds")
	t.line("  Authentication-Results: %s", strings.ReplaceAll(r.AuthenticationResults, "\r\n", "\n  "))
	t.line("  %s: %s", r.VerdictHeader.Name, r.VerdictHeader.Value)
	if r.EnvelopeSender != "" {
		t.line("")
		t.line("Envelope sender the daemon sets (BATV): <%s>", r.EnvelopeSender)
	}
}

// stageWords names a stage as an administrator says it.
func stageWords(stage string) string {
	switch stage {
	case policy.StageMailFrom.String():
		return "MAIL FROM"
	case policy.StageRcpt.String():
		return "RCPT TO"
	case policy.StageHeaders.String():
		return "the end of the headers"
	case policy.StageBody.String():
		return "the end of the body"
	}
	return stage
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func alignedBy(d string) string {
	if d == "" {
		return ""
	}
	return " (d=" + d + ")"
}
