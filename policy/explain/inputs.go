package explain

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/spoofguard/spoofguard/header"
	"github.com/spoofguard/spoofguard/header/received"
	"github.com/spoofguard/spoofguard/policy"
)

// Options are the SMTP facts given on the command line. Whatever is left
// unset is read from the message's own headers, the way an administrator
// reads them by hand.
type Options struct {
	// ClientIP is the client that connected to the MTA. Invalid (the zero
	// Addr): the client named by the topmost Received header.
	ClientIP netip.Addr
	// Helo is the HELO/EHLO name. nil: from the same Received header, or
	// none when ClientIP is given.
	Helo *string
	// MailFrom is the envelope sender, with or without angle brackets;
	// "" and "<>" are the null sender. nil: from Return-Path.
	MailFrom *string
	// Rcpts are the envelope recipients. Empty: X-Original-To, else
	// Delivered-To, else every To and Cc address.
	Rcpts []string
	// AuthUser is the SMTP AUTH user name the MTA would report
	// ({auth_authen}); "" says the client did not authenticate. nil: as
	// the topmost Received header records it.
	AuthUser *string
	// Origin names where the facts above came from, for the trace; ""
	// means the command line, and each fact is named by its flag.
	Origin string
}

// source names the origin of a fact given in the options.
func (o Options) source(flag string) string {
	if o.Origin != "" {
		return o.Origin
	}
	return flag
}

// Input is one SMTP fact and where it came from.
type Input struct {
	Value  string `json:"value"`
	Source string `json:"source"`
}

// Inputs are the SMTP facts the engine was given, with their sources.
type Inputs struct {
	ClientIP Input   `json:"client_ip"`
	Helo     Input   `json:"helo"`
	MailFrom Input   `json:"mail_from"` // value "" is the null sender
	AuthUser *Input  `json:"auth_user,omitempty"`
	Rcpts    []Input `json:"rcpts"`
}

// The sources of the facts, as the trace names them.
const (
	srcTopReceived = "Received header #0 (the receiving MTA's own record of the connection)"
	srcReturnPath  = "Return-Path header"
	srcNotGiven    = "not given"
)

// gather builds the transaction from the options and the header fields,
// and records where each fact came from. A fact that is neither given
// nor in the headers is an error: guessing it would explain a message
// the MTA never saw.
func gather(fields []field, opts Options) (policy.Transaction, Inputs, error) {
	var tx policy.Transaction
	var in Inputs
	if err := gatherClient(fields, opts, &tx, &in); err != nil {
		return tx, in, err
	}
	if err := gatherSender(fields, opts, &tx, &in); err != nil {
		return tx, in, err
	}
	if err := gatherRcpts(fields, opts, &tx, &in); err != nil {
		return tx, in, err
	}
	return tx, in, nil
}

// gatherClient takes the client from the options or from the topmost
// Received header. That header is the receiving MTA's record of who
// connected to it; the engine recognises it by its address and skips it
// when it looks for a relay's header beneath.
func gatherClient(fields []field, opts Options, tx *policy.Transaction, in *Inputs) error {
	if opts.ClientIP.IsValid() {
		tx.Client.IP = opts.ClientIP.Unmap()
		in.ClientIP = Input{tx.Client.IP.String(), opts.source("--client-ip")}
		in.Helo = Input{"", srcNotGiven}
		if opts.Helo != nil {
			tx.Client.Helo = *opts.Helo
			in.Helo = Input{*opts.Helo, opts.source("--helo")}
		}
		gatherAuth(opts, tx, in)
		return nil
	}
	trace := values(fields, "Received")
	if len(trace) == 0 {
		return errors.New("the message has no Received header to take the client from; give it with --client-ip (and --helo)")
	}
	hop, err := received.Parse(trace[0])
	if err != nil {
		return fmt.Errorf("the topmost Received header does not name the connecting client (%v); give it with --client-ip (and --helo)", err)
	}
	tx.Client = policy.Client{IP: hop.IP, Hostname: hop.Host, Helo: hop.Helo}
	in.ClientIP = Input{hop.IP.String(), srcTopReceived}
	in.Helo = Input{hop.Helo, "Received header #0"}
	if opts.Helo != nil {
		tx.Client.Helo = *opts.Helo
		in.Helo = Input{*opts.Helo, opts.source("--helo")}
	}
	if hop.Authenticated {
		// The daemon learns the user from the MTA; the trace header
		// records only that the client authenticated.
		tx.AuthUser = "unknown"
		in.AuthUser = &Input{"unknown", "Received header #0 records SMTP AUTH (" + hop.With + "); the user name is not in it"}
	}
	gatherAuth(opts, tx, in)
	return nil
}

// gatherAuth applies --auth-user, which overrides what the Received
// header says either way.
func gatherAuth(opts Options, tx *policy.Transaction, in *Inputs) {
	if opts.AuthUser == nil {
		return
	}
	tx.AuthUser, in.AuthUser = *opts.AuthUser, nil
	if *opts.AuthUser != "" {
		in.AuthUser = &Input{*opts.AuthUser, opts.source("--auth-user")}
	}
}

// gatherSender takes the envelope sender from the options or from
// Return-Path, which the delivering MTA copies from MAIL FROM.
func gatherSender(fields []field, opts Options, tx *policy.Transaction, in *Inputs) error {
	if opts.MailFrom != nil {
		tx.MailFrom = bareAddress(*opts.MailFrom)
		in.MailFrom = Input{tx.MailFrom, opts.source("--mail-from")}
		return nil
	}
	rp := values(fields, "Return-Path")
	if len(rp) == 0 {
		return errors.New(`the message has no Return-Path header to take the envelope sender from; give it with --mail-from ("<>" for the null sender)`)
	}
	tx.MailFrom = bareAddress(unfold(rp[0]))
	in.MailFrom = Input{tx.MailFrom, srcReturnPath}
	return nil
}

// gatherRcpts takes the recipients from the options, or from the headers
// that record the envelope recipient (X-Original-To is RCPT TO before
// any alias expansion, Delivered-To the mailbox it ended in), or as a
// last resort from the addressed recipients.
func gatherRcpts(fields []field, opts Options, tx *policy.Transaction, in *Inputs) error {
	if len(opts.Rcpts) > 0 {
		for _, r := range opts.Rcpts {
			addRcpt(tx, in, bareAddress(r), opts.source("--rcpt"))
		}
		return nil
	}
	for _, name := range []string{"X-Original-To", "Delivered-To"} {
		if v := values(fields, name); len(v) > 0 {
			if a := bareAddress(unfold(v[0])); a != "" {
				addRcpt(tx, in, a, name+" header")
				return nil
			}
		}
	}
	addressed := header.ParseFrom(append(values(fields, "To"), values(fields, "Cc")...))
	for _, a := range addressed.Addresses {
		if strings.Contains(a, "@") {
			addRcpt(tx, in, a, "To/Cc headers")
		}
	}
	if len(tx.Rcpts) == 0 {
		return errors.New("the message names no recipient (no X-Original-To, Delivered-To, To or Cc address); give one with --rcpt")
	}
	return nil
}

func addRcpt(tx *policy.Transaction, in *Inputs, addr, source string) {
	tx.Rcpts = append(tx.Rcpts, addr)
	in.Rcpts = append(in.Rcpts, Input{addr, source})
}

// bareAddress takes an address out of angle brackets, as MAIL FROM and
// Return-Path write it; "<>" becomes "", the null sender.
func bareAddress(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '<'); i >= 0 {
		if j := strings.LastIndexByte(s, '>'); j > i {
			return strings.TrimSpace(s[i+1 : j])
		}
	}
	return s
}
