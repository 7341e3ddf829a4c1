package policy

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth/arc"
	"github.com/spoofguard/spoofguard/dnsauth/dkim"
	"github.com/spoofguard/spoofguard/dnsauth/dmarc"
	"github.com/spoofguard/spoofguard/dnsauth/spf"
	"github.com/spoofguard/spoofguard/header"
)

// Client is the SMTP client of a session as the MTA reports it.
type Client struct {
	IP       netip.Addr
	Hostname string // the MTA's verified reverse name, "" or "unknown" when none
	Helo     string
	// Local marks mail submitted on the MTA's host without SMTP (Postfix's
	// sendmail command through non_smtpd_milters): it is only signed.
	Local bool
}

// Header is one header field as the MTA passed it: the value is raw,
// including the space after the colon and any folding. Name is the name
// the field is known by (FieldName).
type Header struct {
	Name, Value string
	// written is the name as the MTA passed it, when it differs from
	// Name: DKIM verifies the field as it stood in the message.
	written string
}

// FieldName is the name a header field is known by: the name as written
// without the white space the obsolete syntax allows before the colon
// (RFC 5322 §4.5: field-name *WSP ":"). Mail clients show "From : x" as
// the author, so every rule reads it as From. Some MTAs pass the name to
// the milter as written, and `spoofguard check` reads it from the file:
// both reach the engine through Message.Header, which applies this.
func FieldName(written string) string {
	return strings.TrimRight(written, " \t")
}

// Origin is the client that connected to the inbound relay, read from the
// Received header the relay added.
type Origin struct {
	IP       netip.Addr
	Helo     string
	Host     string
	Received string // the header value it was read from
	Index    int    // position of that header among the Received headers, 0 = top
	Class    Class  // outbound when the original client is an own server, else internet
	Err      string // why the original client could not be found
}

// Outcome is what one rule concluded, for logs and `spoofguard check`.
type Outcome struct {
	Rule   string
	Stage  Stage
	Rcpt   string // the recipient, for outcomes at RCPT TO
	Result string // "fired", "pass", "not applicable", "allowed", "temperror"
	Detail string
	// Verdict is the rule's verdict when it fired (or would have).
	Verdict *Verdict
}

// Message is the engine's state for one mail transaction, from MAIL FROM
// to the end of the body. Methods must be called in SMTP order: Rcpt for
// each recipient, Header for each header field, EndOfHeaders, Body for
// each chunk, EndOfBody. A Message is used by one goroutine at a time.
type Message struct {
	e *Engine

	Client      Client
	Class       Class
	ClassReason string
	Relay       string // the relay's name when Class is relay
	AuthUser    string
	MailFrom    string // envelope sender without <>; "" for the null sender
	Rcpts       []string
	Origin      *Origin // relayed mail, and mail an outbound server took from the Internet

	SPF   *spf.Result // MAIL FROM identity of the evaluated client; nil when not checked
	HELO  *spf.Result // HELO identity, checked when it names a protected domain; else nil
	From  header.From
	DKIM  []dkim.Result
	DMARC []dmarc.Result
	// Trusted are the passes taken from the relay's own verifiers (its
	// Authentication-Results, a trusted ARC seal): they count for
	// alignment beside DKIM and SPF.
	Trusted []TrustedResult
	// ARC is the ARC chain's outcome, for mail from a relay that names
	// its sealers; nil otherwise.
	ARC *ARCOutcome

	Outcomes []Outcome
	Started  time.Time

	verdict  Verdict // most severe enforced verdict so far
	observed Verdict // most severe verdict including report-only ones

	authorized []SenderMatch  // authorised senders that rescued an own-domain rule
	pending    []pendingCheck // own-domain rules waiting for DKIM

	headers       []Header
	edits         HeaderEdits // planned at the end of the body
	added         [2]Header   // backs edits.Insert: no allocation per message
	ctx           context.Context
	dkim          *dkim.Verifier
	arc           *arc.Verifier
	unconfirmed   []TrustedResult // what a trusted seal records, unverified after a DNS failure
	envelopeDone  bool
	headerDecided bool
	bs            backscatterState
}

// Begin starts a transaction at MAIL FROM: the client is classified (SMTP
// AUTH is known only now) and, unless it is a relay whose original client
// is still unknown, the envelope rules run at once.
func (e *Engine) Begin(ctx context.Context, c Client, mailFrom, authUser string) (*Message, Verdict) {
	m := &Message{
		e:        e,
		Client:   c,
		AuthUser: authUser,
		MailFrom: strings.Trim(mailFrom, "<>"),
		Started:  time.Now(),
		verdict:  Accept,
		observed: Accept,
	}
	if c.Local {
		m.Class, m.ClassReason = ClassTrusted, "submitted on this host without SMTP"
		m.planSigning()
		return m, m.verdict
	}
	m.Class, m.Relay, m.ClassReason = e.Classify(c.IP, authUser)
	if m.Class != ClassRelay {
		m.checkEnvelope(ctx, StageMailFrom)
	}
	m.planSigning()
	return m, m.verdict
}

// Verdict is the most severe enforced verdict so far.
func (m *Message) Verdict() Verdict { return m.verdict }

// Observed is the most severe verdict so far including report-only ones:
// what would have been done. It is what the verdict header reports.
func (m *Message) Observed() Verdict { return m.observed }

// Rcpt runs direct delivery for one recipient. Its verdict concerns that
// recipient only, except quarantine, which holds the whole message.
func (m *Message) Rcpt(rcpt string) Verdict {
	rcpt = strings.Trim(rcpt, "<>")
	m.Rcpts = append(m.Rcpts, rcpt)
	if m.Client.Local {
		return Accept
	}
	n := len(m.Outcomes)
	v := m.directDelivery(rcpt)
	if !v.EndsTransaction() {
		v = mostSevere(v, m.checkTag(rcpt))
	}
	for i := n; i < len(m.Outcomes); i++ {
		m.Outcomes[i].Rcpt = rcpt
	}
	return v
}

// Header records one header field.
func (m *Message) Header(name, value string) {
	h := Header{Name: FieldName(name), Value: value}
	if h.Name != name {
		h.written = name
	}
	m.headers = append(m.headers, h)
}

// Headers returns the header fields recorded so far.
func (m *Message) Headers() []Header { return m.headers }

// EndOfHeaders runs what the header block makes decidable: for relayed
// mail the original client and the envelope rules on it, the From header,
// and header forgery when no DKIM signature could rescue the message.
// DKIM verification starts here and runs while the body arrives.
func (m *Message) EndOfHeaders(ctx context.Context) Verdict {
	m.ctx = ctx
	if m.Client.Local {
		return m.verdict
	}
	if m.Class == ClassRelay && !m.envelopeDone {
		m.findOrigin()
		m.checkEnvelope(ctx, StageHeaders)
		rc := m.e.byName[m.Relay].cfg
		m.Trusted = m.relayAuthResults(rc.Name, rc.AuthservID)
	}
	m.checkBehindOutbound(ctx)
	m.settlePending(StageHeaders)
	if !m.decided() {
		m.startARC(ctx)
	}
	m.From = header.ParseFrom(m.headerValues("From"))
	m.checkHeaderForgery(StageHeaders)
	m.checkImpersonation()
	m.judgeBounce(ctx, StageHeaders)
	if _, _, class := m.evaluated(); !class.mayUseOwnDomains() && !m.decided() && m.hasHeader("DKIM-Signature") {
		m.startDKIM(ctx)
	}
	return m.verdict
}

// Body passes a chunk of the body (CRLF line ends as the MTA sends them)
// to DKIM verification. The chunk is not retained after the call.
func (m *Message) Body(chunk []byte) {
	if m.dkim != nil {
		m.dkim.Write(chunk)
	}
	if m.arc != nil {
		m.arc.Body(chunk)
	}
	if m.bs.keepBody {
		m.keepBounceBody(chunk)
	}
}

// EndOfBody finishes DKIM and runs the rules that need it: header forgery
// (unless decided earlier) and DMARC. It returns the final verdict and,
// unless that refuses the message, plans the header edits (HeaderEdits).
func (m *Message) EndOfBody(ctx context.Context) Verdict {
	if m.dkim != nil {
		m.DKIM = m.dkim.Close()
		m.dkim = nil
	}
	m.finishARC()
	m.settlePending(StageBody)
	if m.Client.Local {
		return m.verdict
	}
	m.checkHeaderForgery(StageBody)
	m.judgeBounce(ctx, StageBody)
	m.checkDMARC(ctx)
	if !m.verdict.EndsTransaction() {
		m.edits = m.planEdits()
	}
	return m.verdict
}

// Abort releases what an unfinished transaction holds.
func (m *Message) Abort() {
	if m.dkim != nil {
		m.dkim.Abort()
		m.dkim = nil
	}
	if m.arc != nil {
		m.arc.Abort()
		m.arc = nil
	}
}

// decided reports whether the message is already refused, so that no
// more work is spent on it.
func (m *Message) decided() bool {
	return m.verdict.Action.Refuses()
}

// decide records a rule's verdict: the most severe wins, separately for
// what is enforced and for what is reported.
func (m *Message) decide(v Verdict) {
	if v.moreSevere(m.observed) {
		m.observed = v
	}
	if !v.ReportOnly && v.moreSevere(m.verdict) {
		m.verdict = v
	}
}

// outcome records a rule's conclusion; a verdict, if any, is decided on.
func (m *Message) outcome(rule string, stage Stage, result, detail string, v *Verdict) {
	m.Outcomes = append(m.Outcomes, Outcome{Rule: rule, Stage: stage, Result: result, Detail: detail, Verdict: v})
	if v == nil {
		return
	}
	// A recipient refused at RCPT TO is that recipient's fate only; the
	// message goes on to the others. A hold, or a verdict that is only
	// reported, concerns the whole message.
	if stage == StageRcpt && v.EndsTransaction() {
		return
	}
	m.decide(*v)
}

// fire records a rule that fired with action a; an accept action is
// recorded without a verdict.
func (m *Message) fire(rule string, stage Stage, a config.Action, d *config.DomainConfig, domain, text, reason string) {
	if a == config.ActionAccept || a == "" {
		m.outcome(rule, stage, "fired", reason+" (action: accept)", nil)
		return
	}
	v := verdictFor(a, rule, domain, text, reason, stage)
	v.ReportOnly = m.e.reportOnly(d)
	m.outcome(rule, stage, "fired", reason, &v)
}

// temperror records a rule that could not decide because DNS failed. The
// configured action applies, and it can never be a reject. worst is what
// the rule would do had the lookup gone against the sender: when that is
// accept, the failure cannot change the verdict and decides nothing.
func (m *Message) temperror(rule string, stage Stage, worst config.Action, d *config.DomainConfig, domain, reason string) {
	if worst == config.ActionAccept || worst == "" {
		m.outcome(rule, stage, "temperror", reason+" (cannot change the verdict: the rule's action is accept)", nil)
		return
	}
	a := m.e.cfg.DNS.OnTemperror
	if a == config.ActionReject {
		a = config.ActionTempFail
	}
	if a == config.ActionAccept || a == "" {
		m.outcome(rule, stage, "temperror", reason+" (action: accept)", nil)
		return
	}
	v := verdictFor(a, rule, domain, temperrorText, reason, stage)
	v.ReportOnly = m.e.reportOnly(d)
	m.outcome(rule, stage, "temperror", reason, &v)
}

func (m *Message) headerValues(name string) []string {
	var out []string
	for _, h := range m.headers {
		if strings.EqualFold(h.Name, name) {
			out = append(out, h.Value)
		}
	}
	return out
}

func (m *Message) hasHeader(name string) bool {
	for _, h := range m.headers {
		if strings.EqualFold(h.Name, name) {
			return true
		}
	}
	return false
}

// startDKIM feeds the header block to a streaming verifier; the body
// follows chunk by chunk, so key lookups overlap the body's arrival.
func (m *Message) startDKIM(ctx context.Context) {
	m.dkim = dkim.NewVerifier(ctx, m.e.dns, dkim.Options{MaxSignatures: m.e.cfg.DKIM.MaxSignatures})
	var b []byte
	for _, h := range m.headers {
		b = appendHeaderCRLF(b[:0], h)
		m.dkim.Write(b)
	}
	m.dkim.Write([]byte("\r\n"))
}

// appendHeaderCRLF renders a header field as it stood in the message,
// with CRLF line ends (milters may receive folds as bare LF).
func appendHeaderCRLF(b []byte, h Header) []byte {
	if h.written != "" {
		b = append(b, h.written...)
	} else {
		b = append(b, h.Name...)
	}
	b = append(b, ':')
	for i := 0; i < len(h.Value); i++ {
		c := h.Value[i]
		if c == '\n' && (i == 0 || h.Value[i-1] != '\r') {
			b = append(b, '\r')
		}
		b = append(b, c)
	}
	return append(b, '\r', '\n')
}

// evaluated returns the client the sender checks judge: the original
// client for relayed mail and for mail an outbound server took from the
// Internet, the connecting one otherwise.
func (m *Message) evaluated() (ip netip.Addr, helo string, class Class) {
	switch {
	case m.Origin != nil && m.Origin.IP.IsValid():
		return m.Origin.IP, m.Origin.Helo, m.Origin.Class
	case m.Class == ClassRelay || m.Origin != nil:
		return netip.Addr{}, "", ClassInternet
	}
	return m.Client.IP, m.Client.Helo, m.Class
}
