// Package explain answers an administrator's question "what would
// spoofguard do with this message, and why?" for one saved message. It
// gathers the SMTP facts (from the command line or, like an administrator
// reading headers by hand, from the message's own Received, Return-Path
// and X-Original-To headers), drives the message through policy.Engine.Run
// — the very stages and rules the daemon runs — and turns the
// policy.Message it returns into a Report: the inputs and their sources,
// the path the message took (through the filtering relay or delivered
// directly), the client class, SPF with its steps, each DKIM signature,
// DMARC per author domain, every rule's outcome, the verdict with the SMTP
// reply, and the headers the daemon would remove and add. Nothing here judges a
// message: every conclusion is the engine's.
//
// The one difference from the daemon is DMARC's pct= sampling: the check
// applies a policy with pct below 100 as if the message had been sampled,
// so the answer does not change from run to run.
//
// # JSON
//
// `spoofguard check --json` prints the Report as one JSON object. Its
// field names are an interface and do not change:
//
//	verdict                 what the MTA does: "accept", "reject", "quarantine" or "tempfail"
//	rule                    the deciding rule; "" on a plain accept
//	domain                  the protected or author domain the rule concerned
//	reason                  the rule's explanation
//	stage                   where the rule decided: "mail-from", "rcpt", "end-of-headers", "end-of-body"
//	ended                   where the transaction ended (the same stages)
//	reply                   the SMTP reply: "550 5.7.1 …", "451 4.7.1 …", "250 accepted",
//	                        "250 accepted, held in quarantine"
//	report_only             the deciding verdict is only reported, not enforced
//	would                   {action, rule, domain, reason, stage, reply}: what report-only
//	                        mode did not enforce; absent when nothing was held back
//	inputs                  {client_ip, helo, mail_from, auth_user, rcpts[]}, each {value, source}
//	client                  {ip, helo, class, reason, relay}
//	path                    {kind: "relayed" or "direct", relay, header_index, received,
//	                        original_client {ip, helo, host, class}, error, bypass[], summary[]}
//	recipients[]            {address, status: "accepted", "refused" or "not reached", rule, reply, detail}
//	from                    {addresses[], domains[], problem}
//	spf                     {result, identity, domain, sender, ip, reason, trace[]}; null when not checked
//	dkim[]                  {result, domain, selector, identifier, algorithm, reason}
//	dmarc[]                 {result, from_domain, org_domain, record_domain, record, policy,
//	                        policy_tag, p, sp, np, pct, sampled, spf_aligned, dkim_aligned,
//	                        aligned_dkim, reason}
//	outcomes[]              {rule, stage, result, detail, action, report_only, reply}
//	removed_headers[]       {name, index, value, reason}: the fields the daemon deletes, in the
//	                        order it deletes them; index counts from 1 among the fields of
//	                        that name, top first
//	authentication_results  the Authentication-Results value the daemon adds; "" when it adds none
//	verdict_header          {name, value} of the verdict header; null when the daemon adds none
package explain

import (
	"context"
	"io"

	"github.com/spoofguard/spoofguard/policy"
)

// Check runs one message through the engine as the daemon would and
// explains the result. msg is the message as saved (header fields, an
// empty line, the body; LF or CRLF line ends). The error is for a
// message that cannot be read or whose SMTP facts are neither given nor
// in its headers; a verdict of any kind is not an error.
func Check(ctx context.Context, e *policy.Engine, msg io.Reader, opts Options) (*Report, error) {
	fields, whole, err := readFields(msg)
	if err != nil {
		return nil, err
	}
	tx, in, err := gather(fields, opts)
	if err != nil {
		return nil, err
	}
	tx.Message = whole
	m, ended, err := e.Run(ctx, tx)
	if err != nil {
		return nil, err
	}
	return newReport(e.Config(), m, ended, in), nil
}
