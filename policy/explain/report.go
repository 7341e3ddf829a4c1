package explain

import (
	"slices"
	"strconv"
	"strings"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/dnsauth/dmarc"
	"github.com/spoofguard/spoofguard/dnsauth/spf"
	"github.com/spoofguard/spoofguard/policy"
)

// Report is the explanation of one message; see the package doc for the
// JSON it becomes.
type Report struct {
	Verdict    config.Action `json:"verdict"`
	Rule       string        `json:"rule"`
	Domain     string        `json:"domain"`
	Reason     string        `json:"reason"`
	Stage      string        `json:"stage"`
	Ended      string        `json:"ended"`
	Reply      string        `json:"reply"`
	ReportOnly bool          `json:"report_only"`
	Would      *Would        `json:"would,omitempty"`

	Inputs     Inputs      `json:"inputs"`
	Client     Client      `json:"client"`
	Path       Path        `json:"path"`
	Recipients []Recipient `json:"recipients"`
	From       From        `json:"from"`
	SPF        *SPF        `json:"spf"`
	DKIM       []DKIM      `json:"dkim"`
	DMARC      []DMARC     `json:"dmarc"`
	ARC        *ARC        `json:"arc"`
	Trusted    []Trusted   `json:"trusted_results"`
	Outcomes   []Outcome   `json:"outcomes"`
	// AuthorizedSenders are the [[domain]] senders entries whose proof
	// passed and let the message through an own-domain rule; left out
	// when none did.
	AuthorizedSenders []policy.SenderMatch `json:"authorized_senders,omitempty"`

	RemovedHeaders        []RemovedHeader `json:"removed_headers"`
	AuthenticationResults string          `json:"authentication_results"`
	VerdictHeader         *HeaderField    `json:"verdict_header"`
	// EnvelopeSender is the BATV-tagged sender the daemon sets in place of
	// MAIL FROM (SMFIR_CHGFROM); omitted when the sender stays.
	EnvelopeSender string `json:"envelope_sender,omitempty"`

	hadDKIMHeader bool // the message carries a DKIM-Signature, for the text trace
}

// Would is a verdict that report-only mode kept from being enforced.
type Would struct {
	Action config.Action `json:"action"`
	Rule   string        `json:"rule"`
	Domain string        `json:"domain"`
	Reason string        `json:"reason"`
	Stage  string        `json:"stage"`
	Reply  string        `json:"reply"`
}

// Client is the connecting client and its class.
type Client struct {
	IP     string       `json:"ip"`
	Helo   string       `json:"helo"`
	Class  policy.Class `json:"class"`
	Reason string       `json:"reason"`
	Relay  string       `json:"relay"`
}

// Path is the way the message reached the MTA.
type Path struct {
	Kind           string   `json:"kind"` // "relayed" or "direct"
	Relay          string   `json:"relay"`
	HeaderIndex    *int     `json:"header_index"` // the relay's Received header, 0 = topmost
	Received       string   `json:"received"`
	OriginalClient *Origin  `json:"original_client"`
	Error          string   `json:"error"`
	Bypass         []Bypass `json:"bypass"`
	Summary        []string `json:"summary"`
}

// Origin is the client that connected to the relay.
type Origin struct {
	IP    string       `json:"ip"`
	Helo  string       `json:"helo"`
	Host  string       `json:"host"`
	Class policy.Class `json:"class"`
}

// Bypass is a recipient domain that takes mail only through a relay the
// message did not come through.
type Bypass struct {
	Domain string `json:"domain"`
	Via    string `json:"via"`
}

// Recipient is what became of one envelope recipient.
type Recipient struct {
	Address string `json:"address"`
	Status  string `json:"status"` // "accepted", "refused" or "not reached"
	Rule    string `json:"rule"`
	Reply   string `json:"reply"`
	Detail  string `json:"detail"`
}

// From is what the From header fields say about the author.
type From struct {
	Addresses []string `json:"addresses"`
	Domains   []string `json:"domains"`
	Problem   string   `json:"problem"`
}

// SPF is the SPF evaluation of the judged client.
type SPF struct {
	Result   dnsauth.Result `json:"result"`
	Identity string         `json:"identity"`
	Domain   string         `json:"domain"`
	Sender   string         `json:"sender"`
	IP       string         `json:"ip"`
	Reason   string         `json:"reason"`
	Trace    []string       `json:"trace"`
}

// DKIM is one signature's result.
type DKIM struct {
	Result     dnsauth.Result `json:"result"`
	Domain     string         `json:"domain"`
	Selector   string         `json:"selector"`
	Identifier string         `json:"identifier"`
	Algorithm  string         `json:"algorithm"`
	Reason     string         `json:"reason"`
}

// DMARC is the DMARC result for one author domain, with the tags of the
// record that applied.
type DMARC struct {
	Result       dnsauth.Result `json:"result"`
	FromDomain   string         `json:"from_domain"`
	OrgDomain    string         `json:"org_domain"`
	RecordDomain string         `json:"record_domain"`
	Record       string         `json:"record"`
	Policy       string         `json:"policy"`
	PolicyTag    string         `json:"policy_tag"`
	P            string         `json:"p"`
	SP           string         `json:"sp"`
	NP           string         `json:"np"`
	Pct          int            `json:"pct"`
	Sampled      bool           `json:"sampled"`
	SPFAligned   bool           `json:"spf_aligned"`
	DKIMAligned  bool           `json:"dkim_aligned"`
	AlignedDKIM  string         `json:"aligned_dkim"`
	Reason       string         `json:"reason"`
}

// Outcome is what one rule concluded at one stage.
type Outcome struct {
	Rule       string        `json:"rule"`
	Stage      string        `json:"stage"`
	Result     string        `json:"result"`
	Detail     string        `json:"detail"`
	Action     config.Action `json:"action"` // the verdict's action when the rule fired; "" otherwise
	ReportOnly bool          `json:"report_only"`
	Reply      string        `json:"reply"`
}

// HeaderField is a header field the daemon adds.
type HeaderField struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// newReport renders what the engine concluded about m, whose transaction
// ended at the given stage.
func newReport(cfg *config.Config, m *policy.Message, ended policy.Stage, in Inputs) *Report {
	r := &Report{Inputs: in, Ended: ended.String()}
	r.decide(m, ended)
	r.Client = Client{IP: m.Client.IP.String(), Helo: m.Client.Helo, Class: m.Class, Reason: m.ClassReason, Relay: m.Relay}
	r.Path = newPath(cfg, m, in)
	r.Recipients = recipients(m, in)
	r.From = From{Addresses: nonNil(m.From.Addresses), Domains: nonNil(m.From.Domains), Problem: m.From.Problem}
	r.SPF = spfOf(m.SPF)
	r.DKIM = make([]DKIM, 0, len(m.DKIM))
	for _, d := range m.DKIM {
		r.DKIM = append(r.DKIM, DKIM{d.Result, d.Domain, d.Selector, d.Identifier, d.Algorithm, d.Reason})
	}
	r.DMARC = make([]DMARC, 0, len(m.DMARC))
	for _, d := range m.DMARC {
		r.DMARC = append(r.DMARC, dmarcOf(d))
	}
	r.Outcomes = make([]Outcome, 0, len(m.Outcomes))
	for _, o := range m.Outcomes {
		r.Outcomes = append(r.Outcomes, outcomeOf(o))
	}
	r.AuthorizedSenders = m.AuthorizedSenders()
	for _, h := range m.Headers() {
		if strings.EqualFold(h.Name, "DKIM-Signature") {
			r.hadDKIMHeader = true
		}
	}
	r.trustOf(m)
	r.headerEdits(m)
	return r
}

// decide picks the verdict to report. The enforced one comes first; when
// nothing is enforced, the verdict report-only mode held back is the one
// explained. When every recipient was refused at RCPT TO, the
// recipients' verdicts are the answer: the message itself never got
// further.
func (r *Report) decide(m *policy.Message, ended policy.Stage) {
	enforced, observed := m.Verdict(), m.Observed()
	if ended == policy.StageRcpt {
		enforced = refusedRcpt(m)
		if observed.Action.Severity() < enforced.Action.Severity() {
			observed = enforced
		}
	}
	d := enforced
	if d.Action == config.ActionAccept || d.Action == "" {
		d = observed
	}
	r.Verdict = d.Effective()
	if r.Verdict == "" {
		r.Verdict = config.ActionAccept
	}
	r.Rule, r.Domain, r.Reason, r.ReportOnly = d.Rule, d.Domain, d.Reason, d.ReportOnly
	r.Stage = r.Ended
	if d.Rule != "" {
		r.Stage = d.Stage.String()
	}
	r.Reply = reply(d.Effective(), d)
	if observed.ReportOnly && observed.Action.Severity() > enforced.Action.Severity() {
		r.Would = &Would{Action: observed.Action, Rule: observed.Rule, Domain: observed.Domain,
			Reason: observed.Reason, Stage: observed.Stage.String(), Reply: reply(observed.Action, observed)}
	}
}

// refusedRcpt is the most severe verdict of a recipient refused at RCPT
// TO (the first among equals).
func refusedRcpt(m *policy.Message) policy.Verdict {
	v := policy.Accept
	for _, o := range m.Outcomes {
		if o.Stage == policy.StageRcpt && o.Verdict != nil && o.Verdict.Enforced() && o.Verdict.Action.Severity() > v.Action.Severity() {
			v = *o.Verdict
		}
	}
	return v
}

// reply is the SMTP reply the MTA gives when verdict v leads to action a.
func reply(a config.Action, v policy.Verdict) string {
	switch a {
	case config.ActionReject, config.ActionTempFail:
		return v.Reply()
	case config.ActionQuarantine:
		return "250 accepted, held in quarantine"
	}
	return "250 accepted"
}

// newPath says how the message reached the MTA: through a configured
// filtering relay, or directly; and for each recipient domain that takes
// mail only through a relay, whether this was the way in.
func newPath(cfg *config.Config, m *policy.Message, in Inputs) Path {
	p := Path{Kind: "direct", Bypass: []Bypass{}}
	say := func(s ...string) { p.Summary = append(p.Summary, strings.Join(s, "")) }
	ip := m.Client.IP.String()
	switch m.Class {
	case policy.ClassRelay:
		p.Kind, p.Relay = "relayed", m.Relay
		say("The message came through the filtering relay ", quote(m.Relay), ": ", m.ClassReason, ".")
		relayedFrom(&p, m, say)
	case policy.ClassInternet:
		say("The message was delivered directly by ", ip, ", which is not a configured relay: no filtering relay handled it on the way in.")
	default:
		say("The message was sent directly by an own client (", string(m.Class), "): ", m.ClassReason, ".")
	}
	seen := map[string]bool{}
	for _, rc := range in.Rcpts {
		dom := policy.DomainOf(rc.Value)
		d := cfg.Domain(dom)
		if d == nil || seen[d.Name] {
			continue
		}
		seen[d.Name] = true
		viaWords(&p, m, d, say)
	}
	return p
}

// relayedFrom adds what the relay's Received header says.
func relayedFrom(p *Path, m *policy.Message, say func(...string)) {
	o := m.Origin
	if o == nil {
		say("The original client was not looked for: the transaction ended at RCPT TO, before the headers.")
		return
	}
	idx := o.Index
	p.HeaderIndex = &idx
	p.Received = unfold(o.Received)
	if o.Err != "" {
		p.Error = o.Err
		say("The original client cannot be found: ", o.Err, ".")
		return
	}
	p.OriginalClient = &Origin{IP: o.IP.String(), Helo: o.Helo, Host: o.Host, Class: o.Class}
	say("The relay's Received header #", strconv.Itoa(idx), " names the original client ", o.IP.String(),
		" (HELO ", orNone(o.Helo), "); SPF and DMARC are judged on that client.")
}

// viaWords says whether the path suits a protected recipient domain.
func viaWords(p *Path, m *policy.Message, d *config.DomainConfig, say func(...string)) {
	switch {
	case d.Via == "":
		say(d.Name, " is protected without a relay (edge MX): mail reaches this server directly.")
	case m.Class == policy.ClassRelay && m.Relay == d.Via:
		say(d.Name, " takes inbound mail only through relay ", quote(d.Via), ", and this message came that way.")
	case m.Class == policy.ClassTrusted || m.Class == policy.ClassAuthenticated || m.Class == policy.ClassOutbound:
		say(d.Name, " takes inbound mail only through relay ", quote(d.Via), "; an own client (", string(m.Class), ") may deliver directly.")
	case directDeliveryUnjudged(m, d.Name):
		say(d.Name, " takes inbound mail only through relay ", quote(d.Via), ", whose networks are not known yet: ",
			"whether this message came that way cannot be judged now (a temporary failure, never a reject).")
	default:
		p.Bypass = append(p.Bypass, Bypass{Domain: d.Name, Via: d.Via})
		how := "did not come through it"
		if m.Class == policy.ClassRelay {
			how = "came through relay " + quote(m.Relay) + " instead"
		}
		say(d.Name, " takes inbound mail only through relay ", quote(d.Via), ", but this message ", how,
			": a bypass of the filter (direct delivery).")
	}
}

// directDeliveryUnjudged reports whether the engine could not judge the
// way in for a recipient in domain: its relay's networks were not loaded,
// so the direct-delivery rule ended in temperror rather than firing.
func directDeliveryUnjudged(m *policy.Message, domain string) bool {
	for _, o := range m.Outcomes {
		if o.Rule == policy.RuleDirectDelivery && o.Result == "temperror" && strings.EqualFold(policy.DomainOf(o.Rcpt), domain) {
			return true
		}
	}
	return false
}

// recipients tells what became of each envelope recipient, from the
// engine's outcomes at RCPT TO, which name their recipient.
func recipients(m *policy.Message, in Inputs) []Recipient {
	var rcptOutcomes []policy.Outcome
	for _, o := range m.Outcomes {
		if o.Stage == policy.StageRcpt && o.Rcpt != "" {
			rcptOutcomes = append(rcptOutcomes, o)
		}
	}
	out := make([]Recipient, 0, len(in.Rcpts))
	for i, rc := range in.Rcpts {
		r := Recipient{Address: rc.Value, Status: "accepted", Reply: "250 accepted"}
		if i >= len(m.Rcpts) {
			r.Status, r.Reply = "not reached", ""
			r.Detail = "the transaction ended at MAIL FROM"
		} else if j := slices.IndexFunc(rcptOutcomes, func(o policy.Outcome) bool { return o.Rcpt == m.Rcpts[i] }); j >= 0 {
			o := rcptOutcomes[j]
			rcptOutcomes = slices.Delete(rcptOutcomes, j, j+1)
			r.Detail = o.Detail
			if v := o.Verdict; v != nil {
				r.Rule = v.Rule
				if v.EndsTransaction() {
					r.Status, r.Reply = "refused", v.Reply()
				}
			}
		}
		out = append(out, r)
	}
	return out
}

func spfOf(s *spf.Result) *SPF {
	if s == nil {
		return nil
	}
	ip := ""
	if s.IP.IsValid() {
		ip = s.IP.String()
	}
	return &SPF{Result: s.Result, Identity: s.Identity, Domain: s.Domain, Sender: s.Sender, IP: ip,
		Reason: s.Reason, Trace: nonNil(s.Trace)}
}

// dmarcOf adds the tags of the record that applied, as the engine parsed
// it, to the engine's result; an unusable record shows its text only.
func dmarcOf(d dmarc.Result) DMARC {
	out := DMARC{Result: d.Result, FromDomain: d.FromDomain, OrgDomain: d.OrgDomain, RecordDomain: d.RecordDomain,
		Policy: d.Policy, PolicyTag: d.PolicyTag, Sampled: d.Sampled,
		SPFAligned: d.SPFAligned, DKIMAligned: d.DKIMAligned, AlignedDKIM: d.AlignedDKIM, Reason: d.Reason}
	if rec := d.Record; rec != nil {
		out.Record = rec.Raw
		if d.RecordErr == nil {
			out.P, out.SP, out.NP, out.Pct = rec.Policy, rec.SubdomainPolicy, rec.NonexistentPolicy, rec.Percent
		}
	}
	return out
}

func outcomeOf(o policy.Outcome) Outcome {
	out := Outcome{Rule: o.Rule, Stage: o.Stage.String(), Result: o.Result, Detail: o.Detail}
	if v := o.Verdict; v != nil {
		out.Action, out.ReportOnly = v.Action, v.ReportOnly
		out.Reply = reply(v.Action, *v)
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func quote(s string) string { return "\"" + s + "\"" }

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
