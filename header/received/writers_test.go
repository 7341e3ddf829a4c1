package received

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// The relay's Received header is written by an MTA around text the client
// chose: its HELO argument. These tests render hostile HELO arguments the
// way each writer family does, sanitised where its source says so and as
// sent where it is not known, and require that the address the client
// wrote never comes out as the client's.

const (
	realIP = "192.0.2.66"   // the client that connected to the relay
	fakeIP = "203.0.113.10" // an outbound address the client wants to pass for
	stamp  = "; Fri, 4 Dec 2026 10:00:00 +0000"
)

// hostileHelos are HELO arguments that try to make the header name fakeIP:
// bare and bracketed addresses, whole fake TCP-info comments, fake by and
// id clauses, openers that would swallow what the MTA writes next, CR/LF,
// greeting notes, long and non-ASCII text.
var hostileHelos = []string{
	"x [203.0.113.10]",
	"x (outbound.example.org [203.0.113.10])",
	"x (outbound.example.org [203.0.113.10]) by filter.example.net (Postfix) with ESMTP id Q; Fri",
	"x by filter.example.net with ESMTP id Q; Fri, 4 Dec 2026 10:00:00 +0000 from y (outbound.example.org [203.0.113.10])",
	"[203.0.113.10]",
	"203.0.113.10",
	"x[203.0.113.10]",
	"x(outbound.example.org[203.0.113.10])",
	"[203.0.113.10](x)",
	"x [203.0.113.10];",
	"x [203.0.113.10] (",
	"x [203.0.113.10] \"",
	"x [203.0.113.10] <",
	"x [203.0.113.10] (EHLO",
	"x [203.0.113.10] (a <",
	"x [203.0.113.10] by f (",
	"x (h [203.0.113.10]) by f; (",
	"x [203.0.113.10] (helo=",
	"x [203.0.113.10] (Authenticated sender: a",
	"x) ([203.0.113.10]",
	"x) (203.0.113.10) (HELO y",
	"x) (unknown [203.0.113.10]",
	"x) (LHLO 203.0.113.10",
	"x) (HELLO 203.0.113.10",
	"x [203.0.113.10] helo=y",
	"x ([203.0.113.10] helo=y)",
	"x (h [203.0.113.10] (may be forged))",
	"x \\) [203.0.113.10]",
	"x [192.0.2.66] [203.0.113.10]",
	"x [IPv6:2001:db8::10]",
	"HELO [203.0.113.10]",
	"LHLO 203.0.113.10",
	"x\r\n\t(outbound.example.org [203.0.113.10])",
	"x\r [203.0.113.10]",
	"x\n [203.0.113.10]",
	strings.Repeat("a", 2000) + " [203.0.113.10]",
	"exämple.org [203.0.113.10]",
	"x [203.0.113.10] (Grüße)",
}

// plainHelos are what real clients send; every writer must yield realIP.
var plainHelos = []string{"mail.example.net", "[192.168.1.2]", "[IPv6:2001:db8::1]", "localhost", "EXCH01"}

// writer renders a HELO argument into the Received header one writer
// family adds. ok is false when the writer refuses the HELO, so no header
// exists. exact says the writer's escaping leaves one reading, so the real
// client must come out, not merely no fake one.
type writer struct {
	name   string
	exact  bool
	render func(helo string) (header string, ok bool)
}

// asSent renders with a layout and no sanitising, the assumption for
// writers whose source is not public.
func asSent(layout string) func(string) (string, bool) {
	return func(helo string) (string, bool) {
		return strings.ReplaceAll(layout, "%HELO%", helo) + stamp, true
	}
}

// postfixHelo is Postfix's helo_cmd (src/smtpd/smtpd.c): the arguments
// joined with one space, printable() with "?" for what is not printable,
// then neuter() with NEUTER_CHARACTERS.
func postfixHelo(helo string) string {
	helo = strings.Join(strings.Fields(helo), " ")
	var b strings.Builder
	for _, r := range helo {
		switch {
		case r == utf8.RuneError, r < ' ', r == 0x7f, strings.ContainsRune(" <>()\\\";@", r):
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// sendmailHelo is the HELO/EHLO case of Sendmail's smtp() (srvrsmtp.c):
// the argument ends at white space; without AllowBogusHELO anything but
// letters, digits and "[].-_#:" is refused.
func sendmailHelo(helo string, bogus bool) (string, bool) {
	if i := strings.IndexAny(helo, " \t\r\n\v\f"); i >= 0 {
		if !bogus && strings.TrimSpace(helo[i:]) != "" {
			return "", false
		}
		helo = helo[:i]
	}
	for _, r := range helo {
		ok := r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("[].-_#:", r))
		if !ok && !bogus {
			return "", false
		}
	}
	return helo, helo != ""
}

// eximHelo is Exim's check_helo (smtp_in.c) without helo_accept_junk_hosts:
// a domain name or an address literal.
func eximHelo(helo string) bool {
	if strings.HasPrefix(helo, "[") && strings.HasSuffix(helo, "]") {
		_, ok := parseAddr(helo[1 : len(helo)-1])
		return ok
	}
	for _, r := range helo {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-') {
			return false
		}
	}
	return helo != ""
}

// qmailHelo is qmail's safeput (received.c, as in notqmail).
func qmailHelo(helo string) string {
	b := []byte(helo)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".@%+/=:-[]", c) >= 0) {
			b[i] = '?'
		}
	}
	return string(b)
}

var writers = []writer{
	{"postfix", true, func(h string) (string, bool) {
		return "from " + postfixHelo(h) + " (unknown [192.0.2.66])\r\n\tby filter.example.net (Postfix) with ESMTP id 4Q1Xyz2kLbz9sWn\r\n\tfor <ceo@example.org>" + stamp, true
	}},
	{"postfix/tls-auth", true, func(h string) (string, bool) {
		return "from " + postfixHelo(h) + " (mail.example.net [192.0.2.66])\r\n\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))\r\n" +
			"\t(No client certificate requested)\r\n\tby filter.example.net (Postfix) with ESMTPS id 4Q1Xyz2kLbz9sWo" + stamp, true
	}},
	{"sendmail", true, func(h string) (string, bool) {
		h, ok := sendmailHelo(h, false)
		return "from " + h + " ([192.0.2.66])\r\n\tby mx.example.org (8.17.1/8.17.1) with ESMTP id 4B3ABCDE012345" + stamp, ok
	}},
	{"sendmail/allow-bogus-helo", false, func(h string) (string, bool) {
		h, ok := sendmailHelo(h, true)
		return "from " + h + " (mail.example.net [192.0.2.66] (may be forged))\r\n\tby mx.example.org (8.17.1/8.17.1) with ESMTP id 4B3ABCDE012346" + stamp, ok
	}},
	{"exim", true, func(h string) (string, bool) {
		return "from mail.example.net ([192.0.2.66] helo=" + h + ")\n\tby mx.example.org with esmtp (Exim 4.96)\n\t(envelope-from <a@example.net>)\n\tid 1rXyzA-000abc-2Q" + stamp, eximHelo(h)
	}},
	{"exim/junk-helo", false, asSent("from mail.example.net ([192.0.2.66] helo=%HELO%)\n\tby mx.example.org with esmtp (Exim 4.96) id 1rXyzA-000abc-2R")},
	{"exim/junk-helo-no-rdns", false, asSent("from [192.0.2.66] (helo=%HELO%)\n\tby mx.example.org with esmtp (Exim 4.96) id 1rXyzA-000abc-2S")},
	{"qmail", true, func(h string) (string, bool) {
		return "from unknown (HELO " + qmailHelo(h) + ") (192.0.2.66)\n  by mail.example.org with SMTP" + stamp, true
	}},
	{"qmail/as-sent", false, asSent("from unknown (HELO %HELO%) (192.0.2.66)\n  by mail.example.org with SMTP")},
	{"lmtp-note", false, asSent("from unknown (LHLO %HELO%) (192.0.2.66) by store.example.org with LMTP")},
	{"unsanitised-tcp-info", false, asSent("from %HELO% (unknown [192.0.2.66]) by filter.example.net (Postfix) with ESMTP id 4Q1Xyz")},
	{"exchange", false, asSent("from %HELO% (192.0.2.66) by\r\n EXCH01.corp.example (10.0.0.5) with Microsoft SMTP Server id\r\n 15.2.1258.12")},
	{"exchange-online", false, asSent("from %HELO% (192.0.2.66) by\r\n BN8NAM12FT012.mail.protection.outlook.com (10.13.182.123) with Microsoft SMTP\r\n Server id 15.20.7918.13 via Frontend Transport")},
	{"google", false, asSent("from %HELO% (mail.example.net. [192.0.2.66])\r\n        by mx.google.com with ESMTPS id a640c23a62f3a\r\n        for <ceo@example.org>")},
	{"proofpoint", false, asSent("from %HELO% (mail.example.net [192.0.2.66])\n\tby mx0a-00123456.pphosted.com (PPS) with ESMTPS id 41bj5b8r2u-1\n\tfor <ceo@example.org>")},
	{"mimecast", false, asSent("from %HELO% (mail.example.net\r\n [192.0.2.66]) (Using TLS) by relay.mimecast.com with ESMTP id\r\n eu-mta-12-AbCdEf-1")},
	{"barracuda", false, asSent("from %HELO% (mail.example.net [192.0.2.66]) by mx1.us.ess.barracudanetworks.com with ESMTP id AbCdEfGh12345678")},
	{"cisco", false, asSent("from mail.example.net (HELO %HELO%) ([192.0.2.66])\r\n  by esa1.example.iphmx.com with ESMTP/TLS/ECDHE-RSA-AES256-GCM-SHA384")},
	{"momentum", false, asSent("from unknown [192.0.2.66] (EHLO %HELO%)\n\tby dispatch1-us1.ppe-hosted.com with ESMTP id b-022.p01c11m003")},
	{"communigate", false, asSent("from [192.0.2.66] (HELO %HELO%)\n  by mail.example.org (CommuniGate Pro SMTP 6.3.0) with ESMTP id 88402416")},
}

// unknownLayouts are layouts no writer is known to use: a greeting verb
// the parser does not know is refused when its text holds an address.
var unknownLayouts = []writer{
	{"hello-note", false, asSent("from unknown (HELLO %HELO%) (192.0.2.66) by store.example.org with SMTP")},
}

// TestHostileHelo renders every hostile HELO through every writer family.
// A header may be refused (any *Error) or name the real client; it must
// never name the address the client wrote. Writers whose escaping leaves
// one reading must name the real client.
func TestHostileHelo(t *testing.T) {
	refused := 0
	for _, w := range append(writers[:len(writers):len(writers)], unknownLayouts...) {
		for _, helo := range hostileHelos {
			header, ok := w.render(helo)
			if !ok {
				continue
			}
			h, err := Parse(header)
			var e *Error
			switch {
			case err != nil && !errors.As(err, &e):
				t.Errorf("%s: %.80q: error %v is not an *Error", w.name, helo, err)
			case err != nil && w.exact:
				t.Errorf("%s: %.80q: %v; the writer's escaping leaves one reading:\n%s", w.name, helo, err, header)
			case err != nil:
				refused++
			case h.IP.String() != realIP:
				t.Errorf("%s: %.80q: client %v, want %s:\n%s", w.name, helo, h.IP, realIP, header)
			}
		}
	}
	if refused == 0 {
		t.Error("no hostile header was refused")
	}
}

// TestPlainHelo: the same layouts with the HELOs real clients send name
// the real client.
func TestPlainHelo(t *testing.T) {
	for _, w := range writers {
		for _, helo := range plainHelos {
			header, ok := w.render(helo)
			if !ok {
				continue
			}
			h, err := Parse(header)
			if err != nil || h.IP.String() != realIP {
				t.Errorf("%s: HELO %q: %v, %v:\n%s", w.name, helo, h.IP, err, header)
			}
		}
	}
}

// TestHostileHeloVerbatim holds the attack headers as a real Postfix 3.7
// wrote them, and the same HELOs kept as sent by a writer that does not
// sanitise them, with the outcome each must have.
func TestHostileHeloVerbatim(t *testing.T) {
	const tail = " by filter.example.net (Postfix) with ESMTP id 4Q1Xyz; Fri, 4 Dec 2026 10:00:00 +0000"
	test := func(in string, want error) {
		t.Helper()
		h, err := Parse(in)
		switch {
		case want != nil && !errors.Is(err, want):
			t.Errorf("%q: %v, %v; want %v", in, h.IP, err, want)
		case want == nil && (err != nil || h.IP.String() != realIP):
			t.Errorf("%q: %v, %v; want %s", in, h.IP, err, realIP)
		}
	}
	test("from x?[203.0.113.10] (unknown [192.0.2.66])"+tail, nil)
	test("from x??outbound.example.org?[203.0.113.10]??by?filter.example.net??Postfix??with?ESMTP?id?Q??Fri (unknown [192.0.2.66])"+tail, nil)
	test("from x [203.0.113.10] (unknown [192.0.2.66])"+tail, ErrAmbiguous)
	test("from x (outbound.example.org [203.0.113.10]) (unknown [192.0.2.66])"+tail, ErrAmbiguous)
	test("from x (outbound.example.org [203.0.113.10]) by filter.example.net with ESMTP id Q; Fri (unknown [192.0.2.66])"+tail, ErrAmbiguous)
	test("from x [203.0.113.10]; Fri (unknown [192.0.2.66])"+tail, ErrMalformed)
	test("from x [203.0.113.10] (a < (unknown [192.0.2.66]) (envelope-from <s@example.net>)"+tail, ErrAmbiguous)
	test("from x [203.0.113.10] (a \" (unknown [192.0.2.66]) by filter.example.net with esmtp id 1 for \"b)\\\"\"@example.org; Fri, 4 Dec 2026 10:00:00 +0000", ErrAmbiguous)
	test("from x [203.0.113.10] by f ( (unknown [192.0.2.66]) by filter.example.net with esmtp id 1 for \"b)\\\"\"@example.org; Fri, 4 Dec 2026 10:00:00 +0000", ErrAmbiguous)
	test("from x [203.0.113.10] by y \" (unknown [192.0.2.66]) by filter.example.net with esmtp id 1 for \"c\\\"\"@example.org; Fri, 4 Dec 2026 10:00:00 +0000", ErrAmbiguous)
	test("from x [203.0.113.10] by y for \" (unknown [192.0.2.66]) by filter.example.net with esmtp id 1 for \"c\\\"\"@example.org; Fri, 4 Dec 2026 10:00:00 +0000", ErrAmbiguous)
	test("from x [203.0.113.10] by y for < (unknown [192.0.2.66]) by filter.example.net (Postfix) with ESMTP id 1 for <c@example.org>; Fri, 4 Dec 2026 10:00:00 +0000", ErrAmbiguous)
	test("from x (h [203.0.113.10]) by f; ( (unknown [192.0.2.66]) by filter.example.net with esmtp id 1 for \"b)\\\"\"@example.org; Fri, 4 Dec 2026 10:00:00 +0000", ErrAmbiguous)
	test("from x [203.0.113.10] < (unknown [192.0.2.66])"+tail+" for <ceo@example.org>", ErrAmbiguous)
	test("from x [203.0.113.10] \" (unknown [192.0.2.66])"+tail+" for <\"a\"@example.org>", ErrAmbiguous)
	test("from x [203.0.113.10] (EHLO (unknown [192.0.2.66]))"+tail, ErrAmbiguous)
	test("from x [203.0.113.10] (authenticated (unknown [192.0.2.66]))"+tail, ErrAmbiguous)
	test("from unknown (LHLO 203.0.113.10) (192.0.2.66) by store.example.org with LMTP", nil)
	test("from unknown (HELLO 203.0.113.10) (192.0.2.66) by store.example.org with SMTP", ErrAmbiguous)
	test("from unknown (HELO x) (HELO 203.0.113.10) (192.0.2.66) by mail.example.org with SMTP", nil)
	test("from unknown [192.0.2.66] (EHLO x) (unknown [203.0.113.10]) by dispatch.example.com with ESMTP", ErrAmbiguous)
	test("from [192.0.2.66] (helo=x) (unknown [203.0.113.10]) by mx.example.org with esmtp (Exim 4.96) id 1", ErrAmbiguous)
	test("from mail.example.net (HELO [192.0.2.66] (may be forged)) ([203.0.113.10]) by mx.example.org", ErrAmbiguous)
}

// TestAuthenticatedNotePosition: an authentication note counts only after
// the client's address, where writers put it; before it, it is HELO text.
func TestAuthenticatedNotePosition(t *testing.T) {
	h, err := Parse("from x (Authenticated sender: a) (unknown [192.0.2.66]) by mx.example.org with ESMTP id 1")
	if err != nil || h.Authenticated {
		t.Errorf("note before the TCP-info: %+v, %v; want not authenticated", h, err)
	}
	h, err = Parse("from x (unknown [192.0.2.66]) (Authenticated sender: a) by mx.example.org with ESMTP id 1")
	if err != nil || !h.Authenticated {
		t.Errorf("note after the TCP-info: %+v, %v; want authenticated", h, err)
	}
}
