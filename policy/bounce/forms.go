package bounce

import (
	"bytes"
	"strings"
)

// bounceSubjects start the subjects of non-delivery notices: Postfix's
// bounce template, Sendmail, Exim, qmail, Microsoft Exchange and
// Microsoft 365, Gmail, Lotus Domino, and the generic forms appliances
// use. Matched at the start of the subject, without regard to case.
var bounceSubjects = []string{
	"undelivered mail returned to sender",    // Postfix
	"returned mail:",                         // Sendmail
	"mail delivery failed",                   // Exim
	"failure notice",                         // qmail
	"delivery status notification (failure)", // Gmail, Exchange
	"delivery status notification (delay)",
	"undeliverable:", // Exchange, Microsoft 365
	"undeliverable mail",
	"undelivered mail",
	"delivery failure",
	"mail delivery failure",
	"non-delivery",
	"delivery report:",
	"delivery has failed",
	"warning: could not send message", // Sendmail delay warning
	"delayed mail",
	"mail system error - returned mail",
	"returned to sender",
	"message could not be delivered",
	"delivery failed",
	"delivery notification: delivery has failed", // Lotus Domino
}

// bounceOpenings are lines the MTAs write near the top of a text bounce.
// They are searched only in the first part of the body.
var bounceOpenings = []string{
	"this is the mail system at host",                                  // Postfix
	"this is the qmail-send program",                                   // qmail
	"this message was created automatically by mail delivery software", // Exim
	"the original message was received at",                             // Sendmail
	"delivery has failed to these recipients or groups",                // Exchange
	"your message couldn't be delivered",                               // Microsoft 365
	"your message wasn't delivered",
	"delivery to the following recipient failed permanently", // Gmail
	"delivery to the following recipients failed",
	"i'm sorry to have to inform you that your message could not",
	"a message that you sent could not be delivered to one or more of its",
	"your message did not reach some or all of the intended recipients",
}

// receiptSubjects start the subjects of read receipts some clients send as
// plain text instead of RFC 8098 reports.
var receiptSubjects = []string{"read:", "read receipt", "return receipt", "gelesen:", "lu :", "lu:"}

// challengeFields are written by challenge-response systems: TMDA,
// cPanel's BoxTrapper, ASK, SpamArrest, and the generic X-Challenge.
var challengeFields = []string{"X-TMDA-Confirm", "X-Boxtrapper", "X-ASK-Info", "X-Spamarrest-Noauth", "X-Challenge", "X-Challenge-Response"}

// challengeSubjects start the subjects they use.
var challengeSubjects = []string{"please confirm your message", "confirm your message", "please confirm your e-mail", "please confirm your email", "verification required", "boxtrapper"}

// autoReplyFields mark automatic replies written before RFC 3834 or
// besides it.
var autoReplyFields = []string{"X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Vacation", "X-Auto-Response-Suppress"}

// autoReplySubjects start the subjects of out-of-office replies.
var autoReplySubjects = []string{"out of office", "automatic reply:", "auto:", "autoreply", "auto-reply", "auto reply", "vacation", "abwesenheitsnotiz", "réponse automatique", "away from my mail"}

// headBytes is how much of the body the text forms are looked for in.
const headBytes = 4096

func head(body []byte) []byte {
	if len(body) > headBytes {
		return body[:headBytes]
	}
	return body
}

func hasPrefix(s string, prefixes []string) (string, bool) {
	for _, p := range prefixes {
		if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
			return p, true
		}
	}
	return "", false
}

func contains(b []byte, markers []string) (string, bool) {
	if len(b) == 0 {
		return "", false
	}
	lower := bytes.ToLower(b)
	for _, m := range markers {
		if bytes.Contains(lower, []byte(m)) {
			return m, true
		}
	}
	return "", false
}

// anyField reports the first of names present in fields.
func anyField(fields []Field, names []string) (string, bool) {
	for _, f := range fields {
		name := strings.TrimSpace(f.Name)
		for _, n := range names {
			if strings.EqualFold(name, n) {
				return n, true
			}
		}
	}
	return "", false
}

// isTMDA reports a message from TMDA, which names itself in the value of
// X-Delivery-Agent rather than in a field of its own.
func isTMDA(fields []Field) bool {
	_, ok := hasPrefix(first(fields, "X-Delivery-Agent"), []string{"tmda"})
	return ok
}
