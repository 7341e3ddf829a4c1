package postfix

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

// TestSignVerify checks what the e2e suite relies on: a signature made by
// DKIMKey.Sign verifies against the record from DKIMKey.Record (an RSA
// record is longer than one TXT string), also after a relay's Received
// header was put on top, and no longer after the body changed.
func TestSignVerify(t *testing.T) {
	rsaKey, err := NewRSAKey("partner.example", "rsa", 2048)
	if err != nil {
		t.Fatal(err)
	}
	edKey, err := NewEd25519Key("partner.example", "ed")
	if err != nil {
		t.Fatal(err)
	}
	srv := dnstest.New(t, "")
	for _, k := range []*DKIMKey{rsaKey, edKey} {
		rec, err := k.Record()
		if err != nil {
			t.Fatal(err)
		}
		srv.MustAdd(t, rec)
	}
	msg := Message{From: "Partner <news@partner.example>", To: "user@example.org", Subject: "signed",
		MessageID: NewMessageID("partner.example"), Date: time.Date(2025, 7, 1, 12, 0, 0, 0, time.UTC),
		Body: "Hello,\n.dot line\n"}
	verify := func(raw []byte) []error {
		verifs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{LookupTXT: TXTLookup(srv.Addr)})
		if err != nil {
			t.Fatal(err)
		}
		var errs []error
		for _, v := range verifs {
			errs = append(errs, v.Err)
		}
		return errs
	}
	for _, k := range []*DKIMKey{rsaKey, edKey} {
		signed, err := k.Sign(msg.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		hop := Hop{FromHelo: "mail.partner.example", FromIP: "127.0.0.30", By: "filter.example.org", For: "user@example.org"}
		relayed := hop.Relay(signed)
		if !bytes.HasPrefix(relayed, []byte("Received: from mail.partner.example (mail.partner.example [127.0.0.30])\r\n\tby filter.example.org (Postfix) with ESMTPS id ")) {
			t.Errorf("relay header:\n%s", relayed[:200])
		}
		if errs := verify(relayed); len(errs) != 1 || errs[0] != nil {
			t.Errorf("%s: relayed message: %v", k.Selector, errs)
		}
		tampered := bytes.Replace(relayed, []byte("Hello"), []byte("Hallo"), 1)
		if errs := verify(tampered); len(errs) != 1 || errs[0] == nil {
			t.Errorf("%s: tampered message verified: %v", k.Selector, errs)
		}
	}
}

func TestMessageBytes(t *testing.T) {
	m := Message{From: "a@b.example", To: "c@d.example", Subject: "s", MessageID: "id@b.example",
		Date: time.Date(2025, 7, 1, 12, 0, 0, 0, time.UTC), Header: []string{"X-A: 1"}, Body: "x\r\ny\n"}
	want := "From: a@b.example\r\nTo: c@d.example\r\nSubject: s\r\nDate: Tue, 01 Jul 2025 12:00:00 +0000\r\n" +
		"Message-ID: <id@b.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nX-A: 1\r\n\r\nx\r\ny\r\n"
	if got := string(m.Bytes()); got != want {
		t.Errorf("Bytes:\n%q\nwant\n%q", got, want)
	}
	if a, b := NewMessageID("x.example"), NewMessageID("x.example"); a == b || !strings.HasSuffix(a, "@x.example") {
		t.Errorf("NewMessageID: %q, %q", a, b)
	}
}
