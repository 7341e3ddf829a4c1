package milter

import (
	"log/slog"
	"strings"

	"github.com/spoofguard/spoofguard/policy"
)

// appendTrustAttrs adds what a relay's own verifiers lent to the message:
// "arc" (the chain's result and its newest sealer, for a relay with ARC
// sealers) and "trusted" (each pass taken, method:domain), so the log
// line shows why relayed mail with a broken signature was accepted.
func appendTrustAttrs(attrs []slog.Attr, msg *policy.Message) []slog.Attr {
	if a := msg.ARC; a != nil {
		attrs = append(attrs, slog.String("arc", string(a.CV)+":"+a.Sealer))
	}
	if len(msg.Trusted) == 0 {
		return attrs
	}
	var b strings.Builder
	for i, t := range msg.Trusted {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(t.Method + ":" + t.Domain)
	}
	return append(attrs, slog.String("trusted", b.String()))
}
