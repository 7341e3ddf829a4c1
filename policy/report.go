package policy

import (
	"github.com/spoofguard/spoofguard/dnsauth/authres"
)

import ()

// AuthResults is the value of the Authentication-Results header the
// message gets (RFC 8601): SPF of the evaluated client, every DKIM
// signature, DMARC per author domain, SMTP AUTH.
func (m *Message) AuthResults(authservID string) string {
	ar := authres.Results{
		AuthservID: authservID,
		SPF:        m.SPF,
		HELO:       m.HELO,
		DKIM:       m.DKIM,
		DMARC:      m.DMARC,
		AuthUser:   m.AuthUser,
		Others:     append(m.arcOther(), m.trustedOthers()...),
	}
	// Own senders are not checked: say nothing about DKIM rather than a
	// "none" that may be untrue.
	if _, _, class := m.evaluated(); class.mayUseOwnDomains() {
		ar.NoDKIM = true
	}
	switch {
	case m.Class == ClassRelay && m.Origin != nil && m.Origin.IP.IsValid():
		ar.Comment = "via relay " + m.Relay + " from " + m.Origin.IP.String()
	case m.Class == ClassRelay:
		ar.Comment = "via relay " + m.Relay + ", original client unknown"
	case m.Origin != nil:
		ar.Comment = "via outbound server " + m.Client.IP.String() + " from " + addrWords(m.Origin.IP)
	default:
		ar.Comment = string(m.Class) + " client " + addrWords(m.Client.IP)
	}
	for _, sm := range m.authorized {
		// A comment, not a property: RFC 8601 §2.3 ties properties to a
		// method's registered ptypes, and no method reports local
		// authorisations; a comment is well-formed anywhere (§2.2).
		ar.Comment += "; authorised sender " + quote(sm.Name) + " for " + sm.Domain
	}
	return authres.Format(ar)
}

// VerdictHeader is the value of the short verdict header: the verdict
// that was applied, or in report-only mode the one that would have been.
func (m *Message) VerdictHeader() string {
	return m.observed.Summary() + m.batvSummary()
}
