// Package bounce tells what kind of mail a message sent with the null
// envelope sender is. Only a delivery status notification — a bounce —
// can be backscatter: the bounce of a message someone else sent in our
// name. Read receipts (MDNs) go to the author's From address and never
// carry an envelope tag; vacation replies and challenge-responses answer
// mail a person really received. Those must never be judged as bounces.
//
// The standard bounce is multipart/report with report-type=delivery-status
// (RFC 3464, RFC 6522); MTAs that predate it or ignore it (qmail, old
// Exim, some appliances) send plain text, recognised here by the subject
// and opening lines they are known to write. The header block decides
// most messages; the text forms may need the first lines of the body.
//
// A bounce usually returns the message it reports on, whole
// (message/rfc822) or its header only (text/rfc822-headers); Original
// finds that part, so the caller can ask whether it carries our DKIM
// signature.
package bounce

import (
	"mime"
	"strings"
)

// Kind is what a null-sender message is.
type Kind string

// The kinds.
const (
	DSN       Kind = "bounce"             // delivery status notification: a backscatter candidate
	MDN       Kind = "read receipt"       // RFC 8098 disposition notification
	AutoReply Kind = "auto-reply"         // RFC 3834 vacation or other automatic answer
	Challenge Kind = "challenge-response" // "confirm that you sent this" systems
	Feedback  Kind = "feedback report"    // RFC 5965 abuse report
	Other     Kind = "other"              // nothing says which: not judged
)

// Field is one header field, the value as written.
type Field struct {
	Name, Value string
}

// Class is a classification with the evidence for it.
type Class struct {
	Kind   Kind
	Reason string
	// NeedBody is set when the header block did not decide and the body's
	// opening lines may: call Body and Classify again with it.
	NeedBody bool
}

// Classify decides from the header fields and the start of the body
// (nil while the body is not known yet). The order matters: a structured
// report says what it is; after that a bounce's known subject outranks
// the Auto-Submitted field, which bounces carry too (Postfix and Exim
// write "auto-replied", Sendmail "auto-generated (failure)").
func Classify(fields []Field, body []byte) Class {
	if c, ok := byReportType(fields); ok {
		return c
	}
	subject := first(fields, "Subject")
	if p, ok := hasPrefix(subject, bounceSubjects); ok {
		return Class{Kind: DSN, Reason: "subject " + quote(p) + " of a non-delivery notice"}
	}
	if c, ok := byAutoHeaders(fields, subject); ok {
		return c
	}
	if m, ok := contains(head(body), bounceOpenings); ok {
		return Class{Kind: DSN, Reason: "body says " + quote(m)}
	}
	return Class{Kind: Other, Reason: "no sign of a bounce, receipt or automatic reply", NeedBody: body == nil}
}

// byReportType reads Content-Type: multipart/report (RFC 6522) and its
// report-type parameter.
func byReportType(fields []Field) (Class, bool) {
	mt, params, err := mime.ParseMediaType(first(fields, "Content-Type"))
	if err != nil || mt != "multipart/report" {
		return Class{}, false
	}
	rt := strings.ToLower(params["report-type"])
	reason := "multipart/report; report-type=" + rt
	switch rt {
	case "delivery-status", "global-delivery-status": // RFC 3464, RFC 6533
		return Class{Kind: DSN, Reason: reason}, true
	case "disposition-notification", "global-disposition-notification": // RFC 8098, RFC 6533
		return Class{Kind: MDN, Reason: reason}, true
	case "feedback-report": // RFC 5965
		return Class{Kind: Feedback, Reason: reason}, true
	}
	return Class{}, false
}

// byAutoHeaders finds read receipts, automatic replies and challenges by
// the fields and subjects their software writes.
func byAutoHeaders(fields []Field, subject string) (Class, bool) {
	if p, ok := hasPrefix(subject, receiptSubjects); ok {
		return Class{Kind: MDN, Reason: "subject " + quote(p) + " of a read receipt"}, true
	}
	if isTMDA(fields) {
		return Class{Kind: Challenge, Reason: "X-Delivery-Agent: TMDA"}, true
	}
	if n, ok := anyField(fields, challengeFields); ok {
		return Class{Kind: Challenge, Reason: "field " + n + " of a challenge-response system"}, true
	}
	if p, ok := hasPrefix(subject, challengeSubjects); ok {
		return Class{Kind: Challenge, Reason: "subject " + quote(p) + " of a challenge-response system"}, true
	}
	// RFC 3834 §5: any Auto-Submitted value but "no" marks an automatic
	// message; bounces were recognised above.
	if v := strings.TrimSpace(first(fields, "Auto-Submitted")); v != "" && !strings.EqualFold(v, "no") {
		return Class{Kind: AutoReply, Reason: "Auto-Submitted: " + v}, true
	}
	if n, ok := anyField(fields, autoReplyFields); ok {
		return Class{Kind: AutoReply, Reason: "field " + n + " of an automatic reply"}, true
	}
	if p, ok := hasPrefix(subject, autoReplySubjects); ok {
		return Class{Kind: AutoReply, Reason: "subject " + quote(p) + " of an automatic reply"}, true
	}
	return Class{}, false
}

// IsBounce reports whether the kind is judged as a bounce.
func (k Kind) IsBounce() bool { return k == DSN }

func first(fields []Field, name string) string {
	for _, f := range fields {
		if strings.EqualFold(strings.TrimSpace(f.Name), name) {
			return strings.TrimSpace(unfold(f.Value))
		}
	}
	return ""
}

func unfold(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

func quote(s string) string { return "\"" + s + "\"" }
