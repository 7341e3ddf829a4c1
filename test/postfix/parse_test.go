package postfix

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSMTPData(t *testing.T) {
	test := func(in, want string) {
		t.Helper()
		if got := string(SMTPData([]byte(in))); got != want {
			t.Errorf("SMTPData(%q) = %q, want %q", in, got, want)
		}
	}
	test("A: b\n\nbody\n", "A: b\r\n\r\nbody\r\n.")
	test("A: b\r\n\r\nbody\r\n", "A: b\r\n\r\nbody\r\n.")
	test("A: b\r\n\r\nbody", "A: b\r\n\r\nbody\r\n.")
	test("A: b\n\n.\n..x\n", "A: b\r\n\r\n..\r\n...x\r\n.")
}

// A transcript as swaks 20201014 prints it, with a two-line refusal.
const transcript = `=== Trying 127.0.0.1:40123...
=== Connected to 127.0.0.1.
<-  220 mx.example.org ESMTP
 -> EHLO filter.example.org
<-  250-mx.example.org
<-  250 SMTPUTF8
 -> MAIL FROM:<bounce@spammer.example>
<-  250 2.1.0 Ok
 -> RCPT TO:<user@example.org>
<** 550-5.7.1 example.org accepts mail only through its MX;
<** 550 5.7.1 direct delivery refused
 -> QUIT
<-  221 2.0.0 Bye
=== Connection closed with remote host.
`

func TestParseTranscript(t *testing.T) {
	r := ParseTranscript(transcript)
	want := []string{"550-5.7.1 example.org accepts mail only through its MX;\n550 5.7.1 direct delivery refused"}
	if !reflect.DeepEqual(r.Errors, want) {
		t.Errorf("Errors = %q, want %q", r.Errors, want)
	}
	if r.QueueID != "" {
		t.Errorf("QueueID = %q for a refused message", r.QueueID)
	}

	r = ParseTranscript("<-  250 2.0.0 Ok: queued as 4BcD1234XyZ\r\n<** 451 4.7.1 Service unavailable - try again later\r\n<** 550-cut")
	if r.QueueID != "4BcD1234XyZ" {
		t.Errorf("QueueID = %q", r.QueueID)
	}
	if want := []string{"451 4.7.1 Service unavailable - try again later", "550-cut"}; !reflect.DeepEqual(r.Errors, want) {
		t.Errorf("Errors = %q, want %q", r.Errors, want)
	}
	if got := r.Reply(); got != "550-cut" {
		t.Errorf("Reply = %q", got)
	}
}

func TestResultStage(t *testing.T) {
	for exit, want := range map[int]string{0: StageAccepted, 23: StageMail, 24: StageRcpt, 25: StageData, 26: StageEndData, 2: "swaks exit 2"} {
		if got := (Result{Exit: exit}).Stage(); got != want {
			t.Errorf("exit %d: Stage = %q, want %q", exit, got, want)
		}
	}
}

func TestParseQueue(t *testing.T) {
	out := `{"queue_name": "hold", "queue_id": "4BcD1", "arrival_time": 1700000000, "message_size": 612, "forced_expire": false, "sender": "bounce@spammer.example", "recipients": [{"address": "user@example.org"}]}
{"queue_name": "deferred", "queue_id": "4BcD2", "sender": "", "recipients": [{"address": "a@example.org", "delay_reason": "milter"}]}
`
	q, err := ParseQueue(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 2 || q[0].QueueName != "hold" || q[0].QueueID != "4BcD1" || q[0].Recipients[0].Address != "user@example.org" ||
		q[1].Recipients[0].DelayReason != "milter" {
		t.Errorf("ParseQueue = %+v", q)
	}
	if _, err := ParseQueue("{not json\n"); err == nil {
		t.Error("ParseQueue accepted garbage")
	}
	if q, err := ParseQueue(""); err != nil || len(q) != 0 {
		t.Errorf("empty queue: %v, %v", q, err)
	}
}

func TestParseDelivered(t *testing.T) {
	raw := "Return-Path: <a@partner.example>\nDelivered-To: user@example.org\n" +
		"Received: from filter.example.org (unknown [127.0.0.20])\n\tby mx.example.org (Postfix) with ESMTP id 4X\n" +
		"Authentication-Results: mx.example.org;\n  spf=pass smtp.mailfrom=partner.example\n" +
		"Message-ID: <id-1@partner.example>\n\nbody\n\nX-Not-A-Header: body\n"
	d, err := ParseDelivered("p", []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, f := range d.Fields {
		names = append(names, f.Name)
	}
	if want := []string{"Return-Path", "Delivered-To", "Received", "Authentication-Results", "Message-ID"}; !reflect.DeepEqual(names, want) {
		t.Errorf("fields %q, want %q", names, want)
	}
	if got := d.Get("authentication-results"); got != "mx.example.org; spf=pass smtp.mailfrom=partner.example" {
		t.Errorf("unfolded A-R = %q", got)
	}
	if got := d.Get("X-Not-A-Header"); got != "" {
		t.Errorf("body line read as a header: %q", got)
	}
	for _, bad := range []string{" starts folded\n\n", "no colon\n\n", "A: never ends\n"} {
		if _, err := ParseDelivered("p", []byte(bad)); err == nil {
			t.Errorf("ParseDelivered(%q) accepted it", bad)
		}
	}
}

func TestFindMessage(t *testing.T) {
	base := t.TempDir()
	write := func(domain, sub, name, id string) {
		dir := filepath.Join(base, domain, sub)
		os.MkdirAll(dir, 0o755)
		msg := "Subject: x\nMessage-ID: <" + id + ">\n\nbody\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(msg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("example.org", "new", "1", "one@x")
	write("partner.example", "cur", "2", "two@x")
	for id, want := range map[string]string{"one@x": "example.org/new/1", "<two@x>": "partner.example/cur/2", "three@x": ""} {
		d, err := FindMessage(base, id)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case want == "" && d != nil:
			t.Errorf("%s: found %s, want nothing", id, d.Path)
		case want != "" && (d == nil || !strings.HasSuffix(d.Path, want)):
			t.Errorf("%s: found %v, want %s", id, d, want)
		}
	}
}

func TestSplitMilterAddr(t *testing.T) {
	test := func(in, network, addr string, ok bool) {
		t.Helper()
		n, a, err := SplitMilterAddr(in)
		if (err == nil) != ok || n != network || a != addr {
			t.Errorf("SplitMilterAddr(%q) = %q, %q, %v", in, n, a, err)
		}
	}
	test("inet:127.0.0.1:8891", "tcp", "127.0.0.1:8891", true)
	test("unix:/run/m.sock", "unix", "/run/m.sock", true)
	test("inet:", "", "", false)
	test("local:/x", "", "", false)
	test("127.0.0.1:8891", "", "", false)
}

func FuzzParseTranscript(f *testing.F) {
	f.Add(transcript)
	f.Add("<** 550-a\n<** 550 b\n<-  250 queued as X\n")
	f.Fuzz(func(t *testing.T, s string) {
		r := ParseTranscript(s)
		if len(r.Errors) > strings.Count(s, "<** ") {
			t.Errorf("%d replies from %d reply lines", len(r.Errors), strings.Count(s, "<** "))
		}
	})
}

func FuzzParseDelivered(f *testing.F) {
	f.Add([]byte("A: b\n c\nD: e\n\nbody"))
	f.Add([]byte("A: b\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, err := ParseDelivered("f", raw)
		if err != nil {
			return
		}
		for _, fl := range d.Fields {
			if strings.ContainsAny(fl.Name, ":\n") {
				t.Errorf("field name %q", fl.Name)
			}
		}
	})
}

func FuzzParseQueue(f *testing.F) {
	f.Add(`{"queue_name": "hold", "queue_id": "4B", "recipients": [{"address": "a@b"}]}` + "\n")
	f.Fuzz(func(t *testing.T, s string) {
		ParseQueue(s)
	})
}
