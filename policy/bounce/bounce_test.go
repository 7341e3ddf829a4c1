package bounce

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// split reads a sample into its header fields (in order, folded values
// kept) and its body, with CRLF line ends as the MTA passes them.
func split(t testing.TB, raw []byte) ([]Field, []byte) {
	raw = bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n"))
	head, body, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !ok {
		t.Fatalf("no end of header block")
	}
	var fields []Field
	for _, line := range strings.Split(string(head), "\r\n") {
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1].Value += "\r\n" + line
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		fields = append(fields, Field{Name: name, Value: value})
	}
	return fields, body
}

func sample(t testing.TB, name string) ([]Field, []byte) {
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return split(t, raw)
}

// Each sample's file name starts with the kind it is: dsn-, mdn-,
// autoreply-, challenge-, feedback-, other-.
func TestClassifySamples(t *testing.T) {
	want := map[string]Kind{"dsn": DSN, "mdn": MDN, "autoreply": AutoReply, "challenge": Challenge, "feedback": Feedback, "other": Other}
	files, _ := filepath.Glob("testdata/*.eml")
	if len(files) < 15 {
		t.Fatalf("only %d samples", len(files))
	}
	for _, f := range files {
		name := filepath.Base(f)
		kind := want[strings.SplitN(name, "-", 2)[0]]
		fields, body := sample(t, name)
		c := Classify(fields, body)
		if c.Kind != kind || c.Reason == "" {
			t.Errorf("%s: %s (%s), want %s", name, c.Kind, c.Reason, kind)
		}
		if c.Kind.IsBounce() != (kind == DSN) {
			t.Errorf("%s: IsBounce %v", name, c.Kind.IsBounce())
		}
	}
}

// Most kinds are decided by the header block, so the rule can act at the
// end of the headers; a text bounce without a known subject needs the
// body.
func TestClassifyHeadersOnly(t *testing.T) {
	for name, want := range map[string]Kind{
		"dsn-postfix.eml": DSN, "dsn-qmail.eml": DSN, "dsn-exim-text.eml": DSN, "mdn-outlook-text.eml": MDN,
		"autoreply-sieve.eml": AutoReply, "challenge-tmda.eml": Challenge,
	} {
		fields, _ := sample(t, name)
		if c := Classify(fields, nil); c.Kind != want || c.NeedBody {
			t.Errorf("%s from the headers: %+v, want %s", name, c, want)
		}
	}
	fields, body := sample(t, "dsn-appliance-text.eml")
	if c := Classify(fields, nil); c.Kind != Other || !c.NeedBody {
		t.Errorf("appliance bounce from the headers: %+v, want other, body needed", c)
	}
	if c := Classify(fields, body); c.Kind != DSN || c.NeedBody {
		t.Errorf("appliance bounce with its body: %+v", c)
	}
	// The opening lines are looked for near the top only: a reply that
	// quotes a bounce far down is not one.
	quoted := append(bytes.Repeat([]byte("x\r\n"), headBytes), body...)
	if c := Classify(fields, quoted); c.Kind != Other {
		t.Errorf("bounce text past the head: %+v", c)
	}
}

func TestClassifyFieldNamesAndValues(t *testing.T) {
	for _, c := range []struct {
		fields []Field
		want   Kind
	}{
		{[]Field{{"content-type", " Multipart/Report; Report-Type=\"Delivery-Status\"; boundary=x"}}, DSN},
		{[]Field{{"Content-Type", " multipart/report; report-type=global-delivery-status; boundary=x"}}, DSN},
		{[]Field{{"Content-Type", " multipart/report; boundary=x"}, {"Subject", " hello"}}, Other},
		{[]Field{{"Auto-Submitted", " no"}, {"Subject", " hi"}}, Other},
		{[]Field{{"Auto-Submitted", " auto-notified"}}, AutoReply},
		{[]Field{{"Subject", " RETURNED MAIL: User unknown"}, {"Auto-Submitted", " auto-generated (failure)"}}, DSN},
		{[]Field{{"Content-Type", " multipart/report; report-type=delivery-status; boundary=\"unterminated"}, {"Subject", " failure notice"}}, DSN},
	} {
		if got := Classify(c.fields, []byte{}); got.Kind != c.want {
			t.Errorf("%v: %+v, want %s", c.fields, got, c.want)
		}
	}
}

func TestOriginal(t *testing.T) {
	for name, want := range map[string]struct {
		headersOnly bool
		has         string
	}{
		"dsn-postfix.eml":         {false, "Here they are."},
		"dsn-postfix-headers.eml": {true, "Message-ID: <figures-1@example.org>"},
		"dsn-sendmail.eml":        {false, "Message-ID: <hello-2@example.org>"},
		"dsn-exim.eml":            {false, "Message-ID: <note-3@example.org>"},
		"dsn-exchange.eml":        {true, "Message-ID: <q4@example.org>"},
		"dsn-gmail.eml":           {false, "Message-ID: <g-5@example.org>"},
	} {
		fields, body := sample(t, name)
		ret, err := Original(first(fields, "Content-Type"), body)
		if err != nil || ret.HeadersOnly != want.headersOnly || !strings.Contains(string(ret.Message), want.has) {
			t.Errorf("%s: %v headersOnly=%v\n%s", name, err, ret.HeadersOnly, ret.Message)
		}
		if !bytes.HasPrefix(ret.Message, []byte("From: ")) && !bytes.HasPrefix(ret.Message, []byte("Date: ")) {
			t.Errorf("%s: returned message does not start with its header: %q", name, ret.Message[:min(len(ret.Message), 40)])
		}
	}
	for _, name := range []string{"dsn-qmail.eml", "mdn-thunderbird.eml", "other-notice.eml"} {
		fields, body := sample(t, name)
		if _, err := Original(first(fields, "Content-Type"), body); !errors.Is(err, ErrNoOriginal) {
			t.Errorf("%s: %v, want ErrNoOriginal", name, err)
		}
	}
	// A bounce cut short inside the returned message cannot be verified.
	fields, body := sample(t, "dsn-postfix.eml")
	cut := body[:bytes.Index(body, []byte("Here they"))]
	if _, err := Original(first(fields, "Content-Type"), cut); err == nil {
		t.Error("truncated bounce: no error")
	}
}

func FuzzOriginal(f *testing.F) {
	for _, name := range []string{"dsn-postfix.eml", "dsn-exchange.eml"} {
		fields, body := sample(f, name)
		f.Add(first(fields, "Content-Type"), body)
	}
	f.Add("multipart/mixed; boundary=a", []byte("--a\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		ret, err := Original(ct, body)
		if err == nil && len(ret.Message) > len(body) {
			t.Fatalf("returned message longer than the bounce")
		}
		Classify([]Field{{"Content-Type", ct}}, body)
	})
}
