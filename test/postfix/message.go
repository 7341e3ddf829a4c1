package postfix

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

// Message is a test message; Bytes renders it with CRLF line ends.
type Message struct {
	From      string // RFC5322.From, e.g. "CEO <ceo@example.org>"
	To        string
	Subject   string
	MessageID string // without angle brackets
	Date      time.Time
	// Header are more fields ("Name: value"), written after the standard ones.
	Header []string
	Body   string
}

// Bytes renders the message. A zero Date means now.
func (m Message) Bytes() []byte {
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\n", m.From)
	fmt.Fprintf(&b, "To: %s\r\n", m.To)
	fmt.Fprintf(&b, "Subject: %s\r\n", m.Subject)
	fmt.Fprintf(&b, "Date: %s\r\n", date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s>\r\n", m.MessageID)
	b.WriteString("MIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
	for _, h := range m.Header {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	body := strings.ReplaceAll(m.Body, "\r\n", "\n")
	for _, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		b.WriteString(line + "\r\n")
	}
	return b.Bytes()
}

// NewMessageID returns a unique Message-ID (without brackets) in domain.
func NewMessageID(domain string) string {
	var r [8]byte
	rand.Read(r[:])
	return fmt.Sprintf("%x.%d@%s", r, time.Now().UnixNano(), domain)
}

// DKIMKey is a signing key and where its public half is published.
type DKIMKey struct {
	Domain   string
	Selector string
	Signer   crypto.Signer
}

// NewRSAKey makes an RSA DKIM key (RFC 6376 §3.3.3: at least 1024 bits;
// 2048 is what senders use today).
func NewRSAKey(domain, selector string, bits int) (*DKIMKey, error) {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, err
	}
	return &DKIMKey{Domain: domain, Selector: selector, Signer: k}, nil
}

// NewEd25519Key makes an Ed25519 DKIM key (RFC 8463).
func NewEd25519Key(domain, selector string) (*DKIMKey, error) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return &DKIMKey{Domain: domain, Selector: selector, Signer: k}, nil
}

// Record is the key's TXT record in master-file syntax (for dnstest),
// split into strings of at most 255 bytes (RFC 1035 §3.3.14).
func (k *DKIMKey) Record() (string, error) {
	var tag, p string
	switch pub := k.Signer.Public().(type) {
	case ed25519.PublicKey:
		tag, p = "ed25519", base64.StdEncoding.EncodeToString(pub)
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", err
		}
		tag, p = "rsa", base64.StdEncoding.EncodeToString(der)
	default:
		return "", fmt.Errorf("dkim key of type %T", pub)
	}
	txt := "v=DKIM1; k=" + tag + "; p=" + p
	var parts []string
	for len(txt) > 255 {
		parts = append(parts, `"`+txt[:255]+`"`)
		txt = txt[255:]
	}
	parts = append(parts, `"`+txt+`"`)
	return fmt.Sprintf("%s._domainkey.%s. 300 IN TXT %s", k.Selector, k.Domain, strings.Join(parts, " ")), nil
}

// Sign returns msg with a DKIM-Signature header of this key on top,
// relaxed/relaxed over the usual header fields.
func (k *DKIMKey) Sign(msg []byte) ([]byte, error) {
	var out bytes.Buffer
	err := dkim.Sign(&out, bytes.NewReader(msg), &dkim.SignOptions{
		Domain: k.Domain, Selector: k.Selector, Signer: k.Signer,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             []string{"From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"},
	})
	return out.Bytes(), err
}

// Hop describes the trace header a relay adds when it passes a message on.
type Hop struct {
	FromHelo string // the EHLO name the original client gave
	FromIP   string // the original client's address
	By       string // the relay's host name
	For      string // the recipient, optional
	ID       string // the relay's queue id; default: made up
	Date     time.Time
}

// Received renders the hop as Postfix writes its trace header (RFC 5321
// §4.4), e.g. "Received: from mail.partner.example (mail.partner.example
// [127.0.0.30]) by filter.example.org (Postfix) with ESMTPS id ...; date".
func (h Hop) Received() string {
	date := h.Date
	if date.IsZero() {
		date = time.Now()
	}
	id := h.ID
	if id == "" {
		var r [5]byte
		rand.Read(r[:])
		id = strings.ToUpper(fmt.Sprintf("4%x", r))
	}
	forClause := ""
	if h.For != "" {
		forClause = "\r\n\tfor <" + h.For + ">"
	}
	return fmt.Sprintf("Received: from %s (%s [%s])\r\n\tby %s (Postfix) with ESMTPS id %s%s;\r\n\t%s\r\n",
		h.FromHelo, h.FromHelo, h.FromIP, h.By, id, forClause, date.Format(time.RFC1123Z))
}

// Relay returns msg as a relay passes it on: its trace header on top.
func (h Hop) Relay(msg []byte) []byte {
	return append([]byte(h.Received()), msg...)
}
