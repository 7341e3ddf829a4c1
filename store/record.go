package store

import (
	"strings"
	"time"
)

// Where a protected domain appeared in a message (Record.Seen).
const (
	SeenEnvelope = "envelope" // the MAIL FROM domain
	SeenHelo     = "helo"     // the HELO name
	SeenFrom     = "from"     // an author domain of the From field
	SeenRcpt     = "rcpt"     // the domain of a refused recipient
)

// Record is one decision: a message that named a protected domain, or a
// recipient the daemon refused. Fields hold domains, names and results,
// never message content.
type Record struct {
	Time   time.Time
	Host   string // the daemon's host: several MX hosts may share a store
	Queue  string // the MTA's queue id, to find the log lines
	Domain string // the protected domain
	Seen   []string
	Rcpt   string // the refused recipient, for a per-recipient record

	MailFrom    string   // the envelope sender's domain; "" for the null sender
	FromDomains []string // the author domains of the From field

	ClientIP   string // the evaluated client: the original one behind a relay
	ClientName string // its reverse DNS name, "" when it has none
	Helo       string
	Class      string
	Relay      string // the relay the message came through, if any

	SPF       string // the SPF result of the evaluated client
	SPFDomain string // the domain whose SPF policy was evaluated
	DKIM      []Result
	DMARC     []Result
	Rules     []Result // each rule that ran, Name being the rule

	Verdict string // the action the MTA was told to take
	Rule    string // the rule that decided, or would have
	Would   string // report-only: the action enforce mode would take
	Sender  string // the authorised sender entry that vouched for the message
	Reason  string
}

// Result is a method's or a rule's result about one name: a DKIM result
// and the signing domain, a DMARC result and the author domain, a rule's
// outcome and the rule. Both are single tokens: white space and "="
// are stored as "_".
type Result struct {
	Name   string
	Result string
}

// encodeResults writes results as "name=result" separated by spaces:
// domains and rule names contain neither.
func encodeResults(rs []Result) string {
	var b strings.Builder
	for i, r := range rs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(clean(r.Name))
		b.WriteByte('=')
		b.WriteString(clean(r.Result))
	}
	return b.String()
}

func decodeResults(s string) []Result {
	var out []Result
	for _, f := range strings.Fields(s) {
		name, result, _ := strings.Cut(f, "=")
		out = append(out, Result{Name: name, Result: result})
	}
	return out
}

// encodeList joins names with commas, decodeList splits them.
func encodeList(names []string) string {
	cleaned := make([]string, 0, len(names))
	for _, n := range names {
		if n = strings.ReplaceAll(clean(n), ",", ""); n != "" {
			cleaned = append(cleaned, n)
		}
	}
	return strings.Join(cleaned, ",")
}

func decodeList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// clean keeps a name to one token: a forged HELO or a lenient From parse
// may carry spaces or '=', which would break the encoding.
func clean(s string) string {
	if !strings.ContainsAny(s, " \t\r\n=") {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n', '=':
			return '_'
		}
		return r
	}, s)
}

// PassingDKIM returns the domains of the DKIM signatures that passed.
func (r *Record) PassingDKIM() []string {
	var out []string
	for _, d := range r.DKIM {
		if d.Result == "pass" {
			out = append(out, d.Name)
		}
	}
	return out
}

// Stopped reports whether the MTA was told to stop the message (or the
// recipient): reject, tempfail or quarantine.
func (r *Record) Stopped() bool { return stops(r.Verdict) }

// WouldStop reports whether enforce mode stops the message: either it
// was stopped, or report-only mode let through what enforce would not.
func (r *Record) WouldStop() bool { return r.Stopped() || stops(r.Would) }

func stops(action string) bool {
	return action == "reject" || action == "tempfail" || action == "quarantine"
}
