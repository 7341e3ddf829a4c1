package milter

import (
	"slices"
	"strings"
	"time"

	"github.com/spoofguard/spoofguard/policy"
	"github.com/spoofguard/spoofguard/store"
)

// records turns a finished transaction into the decision store's records:
// one per protected domain the message names (envelope sender, HELO,
// From), and one per recipient a rule refused (or would have). Mail that
// names no protected domain and refuses nobody gives none.
func records(e *policy.Engine, msg *policy.Message, queue, host string, now time.Time) []store.Record {
	seen := namedDomains(e, msg)
	var refused []policy.Outcome
	for _, o := range msg.Outcomes {
		if o.Rcpt != "" && o.Verdict != nil && o.Verdict.Action.Refuses() {
			refused = append(refused, o)
		}
	}
	if len(seen) == 0 && len(refused) == 0 {
		return nil
	}
	base := baseRecord(msg, queue, host, now)
	out := make([]store.Record, 0, len(seen)+len(refused))
	for _, d := range seen {
		r := base
		r.Domain, r.Seen = d.name, d.where
		r.Rules = messageRules(msg)
		r.Sender = senderFor(msg, d.name)
		setVerdict(&r, msg.Verdict(), msg.Observed())
		out = append(out, r)
	}
	for _, o := range refused {
		out = append(out, rcptRecord(e, base, o))
	}
	return out
}

// seenDomain is a protected domain and where the message named it.
type seenDomain struct {
	name  string
	where []string
}

// namedDomains lists the protected domains the message names, in the
// order envelope, HELO, From, each once with every place it appeared.
func namedDomains(e *policy.Engine, msg *policy.Message) []seenDomain {
	var out []seenDomain
	add := func(name, where string) {
		p := e.ProtectedName(name)
		if p == "" {
			return
		}
		for i := range out {
			if out[i].name == p {
				if !slices.Contains(out[i].where, where) {
					out[i].where = append(out[i].where, where)
				}
				return
			}
		}
		out = append(out, seenDomain{name: p, where: []string{where}})
	}
	add(policy.DomainOf(msg.MailFrom), store.SeenEnvelope)
	_, helo, _ := msg.Evaluated()
	add(strings.ToLower(strings.TrimSuffix(helo, ".")), store.SeenHelo)
	for _, d := range msg.From.Domains {
		add(d, store.SeenFrom)
	}
	return out
}

// baseRecord holds the facts every record of the transaction shares.
func baseRecord(msg *policy.Message, queue, host string, now time.Time) store.Record {
	ip, helo, class := msg.Evaluated()
	r := store.Record{
		Time: now, Host: host, Queue: queue, MailFrom: policy.DomainOf(msg.MailFrom), FromDomains: msg.From.Domains,
		Helo: helo, Class: string(class), Relay: msg.Relay, ClientName: clientName(msg),
	}
	if ip.IsValid() {
		r.ClientIP = ip.String()
	}
	if msg.SPF != nil {
		r.SPF, r.SPFDomain = string(msg.SPF.Result), msg.SPF.Domain
	}
	for _, d := range msg.DKIM {
		r.DKIM = append(r.DKIM, store.Result{Name: d.Domain, Result: string(d.Result)})
	}
	for _, d := range msg.DMARC {
		r.DMARC = append(r.DMARC, store.Result{Name: d.FromDomain, Result: string(d.Result)})
	}
	return r
}

// clientName is the evaluated client's reverse name: the one the relay
// wrote in its Received field, or the one the MTA verified; "" when the
// MTA found none ("unknown", or Sendmail's "[address]").
func clientName(msg *policy.Message) string {
	name := msg.Client.Hostname
	if msg.Origin != nil {
		name = msg.Origin.Host
	}
	if name == "unknown" || strings.HasPrefix(name, "[") {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// messageRules is each message-wide rule's outcome ("not applicable"
// stored as "not-applicable").
func messageRules(msg *policy.Message) []store.Result {
	var out []store.Result
	for _, o := range msg.Outcomes {
		if o.Rcpt == "" {
			out = append(out, store.Result{Name: o.Rule, Result: strings.ReplaceAll(o.Result, " ", "-")})
		}
	}
	return out
}

// setVerdict fills what the MTA was told and, in report-only mode, what
// enforce mode would have done.
func setVerdict(r *store.Record, v, observed policy.Verdict) {
	r.Verdict, r.Rule, r.Reason = string(v.Effective()), observed.Rule, observed.Reason
	if observed.ReportOnly {
		r.Would = string(observed.Action)
	}
}

// rcptRecord is the record of one refused recipient, filed under its
// domain.
func rcptRecord(e *policy.Engine, base store.Record, o policy.Outcome) store.Record {
	r := base
	r.Domain = policy.DomainOf(o.Rcpt)
	if p := e.ProtectedName(r.Domain); p != "" {
		r.Domain = p
	}
	r.Seen, r.Rcpt = []string{store.SeenRcpt}, o.Rcpt
	r.Rules = []store.Result{{Name: o.Rule, Result: strings.ReplaceAll(o.Result, " ", "-")}}
	setVerdict(&r, *o.Verdict, *o.Verdict)
	return r
}

// senderFor is the name of the authorised sender entry of domain that let
// the message through an own-domain rule, "" when none did.
func senderFor(msg *policy.Message, domain string) string {
	for _, m := range msg.AuthorizedSenders() {
		if m.Domain == domain {
			return m.Name
		}
	}
	return ""
}
