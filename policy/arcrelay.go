package policy

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/dnsauth/arc"
	"github.com/spoofguard/spoofguard/dnsauth/authres"
)

// ARC (RFC 8617) is how a filter that changes messages vouches for what
// it saw before the change: each ARC set seals the filter's
// Authentication-Results of that hop (the ARC-Authentication-Results)
// and the message as it left. For mail from a relay that names its
// sealers (arc_sealers), the chain is validated while the body streams;
// when it passes and the newest seal is one of that relay's, the DKIM and
// SPF passes of the newest set count for alignment (RFC 8617 §7.2: ARC as
// input to a DMARC local policy override). A seal by anyone else, a
// broken chain, or mail that did not come from the relay, is evidence of
// nothing.

// ARCOutcome is what the ARC chain of a message from a relay with
// sealers came to.
type ARCOutcome struct {
	arc.Result
	Trusted bool   // the chain passed and the newest seal is one of the relay's sealers
	Why     string // why its results were or were not taken
}

// startARC starts validating the ARC chain when the message came from a
// relay that names sealers and carries an ARC-Seal. Other mail pays
// nothing.
func (m *Message) startARC(ctx context.Context) {
	if m.Class != ClassRelay || len(m.e.byName[m.Relay].cfg.ArcSealers) == 0 || !m.hasHeader("ARC-Seal") {
		return
	}
	m.arc = arc.NewVerifier(ctx, m.e.dns, time.Now())
	for _, h := range m.headers {
		name := h.Name
		if h.written != "" {
			name = h.written
		}
		m.arc.Header(name, h.Value)
	}
	m.arc.EndOfHeaders()
}

// finishARC closes the validation and takes the newest set's results
// when the relay's own sealer vouches for them.
func (m *Message) finishARC() {
	if m.arc == nil {
		return
	}
	res := m.arc.Close()
	m.arc = nil
	rc := m.e.byName[m.Relay].cfg
	o := &ARCOutcome{Result: res}
	m.ARC = o
	newest := res.Newest()
	switch {
	case res.CV == dnsauth.TempError && newest != nil && sealerOf(rc, res.Sealer):
		// The seal might have vouched for the message: a rule it could
		// have rescued answers temperror, never a refusal.
		m.unconfirmed = takeResults(arcResinfos(newest.Results), "")
		o.Why = "chain temperror: " + res.Reason + "; what the relay's seal records could not be confirmed"
	case res.CV != dnsauth.Pass:
		o.Why = "chain " + string(res.CV) + ": " + res.Reason + "; nothing taken from it"
	case newest == nil || !sealerOf(rc, res.Sealer):
		o.Why = "newest seal by " + orNull(res.Sealer) + ", not one of relay " + quote(rc.Name) + "'s arc_sealers; nothing taken from it"
	default:
		o.Trusted = true
		source := "ARC i=" + strconv.Itoa(newest.Instance) + " sealed by " + res.Sealer + " for relay " + quote(rc.Name)
		taken := takeResults(arcResinfos(newest.Results), source)
		m.Trusted = append(m.Trusted, taken...)
		o.Why = "chain pass, newest seal by " + res.Sealer + ", a sealer of relay " + quote(rc.Name) + ": " + takenWords(taken)
	}
}

// sealerOf reports whether d is one of the relay's sealing domains.
func sealerOf(rc *config.RelayConfig, d string) bool {
	for _, s := range rc.ArcSealers {
		if strings.EqualFold(strings.TrimSuffix(s, "."), strings.TrimSuffix(d, ".")) {
			return true
		}
	}
	return false
}

// arcResinfos puts an ARC-Authentication-Results' results into the shape
// the relay's own Authentication-Results are read into.
func arcResinfos(rs []arc.AuthResult) []authres.Resinfo {
	out := make([]authres.Resinfo, len(rs))
	for i, r := range rs {
		out[i] = authres.Resinfo{Method: r.Method, Result: string(r.Result), Props: r.Props}
	}
	return out
}

func takenWords(ts []TrustedResult) string {
	if len(ts) == 0 {
		return "no DKIM or SPF pass recorded in it"
	}
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.Method + "=pass " + t.Domain
	}
	return "taken " + strings.Join(parts, ", ")
}

// arcOther is our Authentication-Results entry for the chain (RFC 8617
// §10.2 registers arc with smtp.remote-ip, the client that handed the
// sealed message to us).
func (m *Message) arcOther() []authres.Other {
	o := m.ARC
	if o == nil || o.CV == dnsauth.None {
		return nil
	}
	comment := o.Why
	if o.Sealer != "" {
		comment = "i=" + strconv.Itoa(o.Instance) + " sealer " + o.Sealer + "; " + comment
	}
	return []authres.Other{{Method: "arc", Result: string(o.CV), Comment: comment, Props: []string{"smtp.remote-ip", addrWords(m.Client.IP)}}}
}

// unconfirmedAligned reports whether a pass recorded under the relay's
// seal, which a DNS failure kept from being verified, aligns with dom:
// had the lookup worked, it could have rescued the message.
func (m *Message) unconfirmedAligned(dom string) bool {
	for _, t := range m.unconfirmed {
		if aligned(t.Domain, dom) {
			return true
		}
	}
	return false
}
