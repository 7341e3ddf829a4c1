package main

// postcat(1) shows a Postfix queue file as text: the envelope records the
// MTA wrote (client, HELO, SASL user, sender, recipients), then the
// message, then the records extracted from its header:
//
//	*** ENVELOPE RECORDS hold/4Yc2Lq2Ztkz9sKY ***
//	named_attribute: client_address=192.0.2.66
//	sender: bounce@spam.example
//	recipient: bob@example.org
//	*** MESSAGE CONTENTS hold/4Yc2Lq2Ztkz9sKY ***
//	Received: ...
//	*** HEADER EXTRACTED hold/4Yc2Lq2Ztkz9sKY ***
//	*** MESSAGE FILE END hold/4Yc2Lq2Ztkz9sKY ***
//
// `postcat -q QUEUEID | spoofguard check -` explains a queued (for
// instance quarantined) message with the envelope the daemon saw.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/spoofguard/spoofguard/policy/explain"
)

// postcatMarker starts postcat's output.
const postcatMarker = "*** ENVELOPE RECORDS "

// maxQueueFile bounds what is read of postcat's output; Postfix's own
// message_size_limit is 10 MB by default.
const maxQueueFile = 128 << 20

// postcatEnvelope is what the queue file recorded of the SMTP session.
type postcatEnvelope struct {
	clientIP         netip.Addr
	helo, authUser   string
	sender           *string
	rcpts            []string
	origRcpt         string // original_recipient: comes before its recipient record
	hasHelo, hasAuth bool
}

// sniffPostcat returns the message to check and, when the input is
// postcat's output, the envelope it recorded; a plain message is passed
// through unread.
func sniffPostcat(r io.Reader) (io.Reader, *postcatEnvelope, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(len(postcatMarker))
	if string(head) != postcatMarker {
		return br, nil, nil
	}
	data, err := io.ReadAll(io.LimitReader(br, maxQueueFile+1))
	if err != nil {
		return nil, nil, err
	}
	if len(data) > maxQueueFile {
		return nil, nil, fmt.Errorf("postcat output larger than %d bytes", maxQueueFile)
	}
	return parsePostcat(data)
}

// parsePostcat splits postcat's output into envelope and message.
func parsePostcat(data []byte) (io.Reader, *postcatEnvelope, error) {
	const contents = "\n*** MESSAGE CONTENTS "
	i := bytes.Index(data, []byte(contents))
	if i < 0 {
		return nil, nil, errors.New("postcat output without MESSAGE CONTENTS: run postcat -q QUEUEID without -e, -h or -b")
	}
	env := &postcatEnvelope{}
	for _, line := range strings.Split(string(data[:i]), "\n")[1:] {
		env.record(line)
	}
	msg := data[i+len(contents):]
	msg = msg[bytes.IndexByte(msg, '\n')+1:] // the rest of the marker line
	// The message ends at the last section marker: a body line may
	// look like one, postcat's own lines come after the message.
	for _, end := range []string{"*** HEADER EXTRACTED ", "*** MESSAGE FILE END "} {
		if j := bytes.LastIndex(msg, []byte("\n"+end)); j >= 0 {
			msg = msg[:j+1]
		} else if bytes.HasPrefix(msg, []byte(end)) {
			msg = msg[:0]
		}
	}
	return bytes.NewReader(msg), env, nil
}

// record takes one envelope line: "name: value", or "named_attribute:
// name=value" for what smtpd recorded about the client.
func (e *postcatEnvelope) record(line string) {
	name, value, ok := strings.Cut(line, ":")
	if !ok {
		return
	}
	value = strings.TrimSpace(value)
	switch name {
	case "sender":
		e.sender = &value
	case "original_recipient":
		e.origRcpt = value
	case "recipient":
		// The milter saw RCPT TO as the client wrote it, before any
		// alias rewrote it: the original recipient.
		rcpt := value
		if e.origRcpt != "" {
			rcpt, e.origRcpt = e.origRcpt, ""
		}
		e.rcpts = append(e.rcpts, rcpt)
	case "named_attribute":
		k, v, _ := strings.Cut(value, "=")
		e.attribute(k, v)
	}
}

func (e *postcatEnvelope) attribute(name, value string) {
	switch name {
	case "client_address":
		e.clientIP, _ = netip.ParseAddr(value)
	case "helo_name":
		e.helo, e.hasHelo = value, true
	case "sasl_username":
		e.authUser, e.hasAuth = value, true
	}
}

// fill gives the options every fact the queue file recorded that the
// command line did not give.
func (e *postcatEnvelope) fill(opts *explain.Options) {
	given := opts.ClientIP.IsValid() || opts.Helo != nil || opts.MailFrom != nil || opts.Rcpts != nil || opts.AuthUser != nil
	opts.Origin = "queue file envelope (postcat)"
	if given {
		opts.Origin = "queue file envelope (postcat) or the command line"
	}
	if !opts.ClientIP.IsValid() {
		opts.ClientIP = e.clientIP
	}
	if opts.Helo == nil && e.hasHelo {
		opts.Helo = &e.helo
	}
	if opts.MailFrom == nil {
		opts.MailFrom = e.sender
	}
	if opts.Rcpts == nil {
		opts.Rcpts = e.rcpts
	}
	if opts.AuthUser == nil {
		// No sasl_username record: the client did not authenticate.
		opts.AuthUser = &e.authUser
	}
}
