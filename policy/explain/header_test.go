package explain

import (
	"bufio"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/spoofguard/spoofguard/policy"
)

// fieldsOf is the fields check reads from a header block.
func fieldsOf(tb testing.TB, block string) []field {
	tb.Helper()
	fields, _, err := readFields(strings.NewReader(block))
	if err != nil {
		tb.Fatal(err)
	}
	return fields
}

func TestReadFields(t *testing.T) {
	test := func(name, block string, want []field) {
		t.Run(name, func(t *testing.T) {
			got := fieldsOf(t, block)
			if len(got) == 0 && len(want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %q\nwant %q", got, want)
			}
		})
	}
	test("simple", "From: a@example.org\nTo: b@example.org\n\nbody\n",
		[]field{{"From", " a@example.org"}, {"To", " b@example.org"}})
	test("CRLF and folding", "Received: from a\r\n\tby b\r\n id 1\r\nSubject: x\r\n\r\n",
		[]field{{"Received", " from a\r\n\tby b\r\n id 1"}, {"Subject", " x"}})
	test("no space after the colon", "X-Original-To:user@example.org\n",
		[]field{{"X-Original-To", "user@example.org"}})
	test("a line that is no field ends the block", "From: a\nthis is body text\nTo: b\n",
		[]field{{"From", " a"}})
	// As for the engine (and Postfix): the body starts at the stray
	// line, so nothing below it is a header, whatever it looks like.
	test("continuation before any field starts the body", " stray\nFrom: a\nReceived: from x\n", nil)
	test("a field name with a space is no field", "Bad Name: x\nFrom: a\n", nil)
	test("empty name", ": x\n", nil)
	test("last line without a line end", "From: a\nTo: b", []field{{"From", " a"}, {"To", " b"}})
	test("empty", "", nil)
}

// check reads the fields the engine reads, and hands the message on to it
// byte for byte, whatever the reader's buffer did.
func TestReadFieldsSameAsEngine(t *testing.T) {
	long := "Subject: " + strings.Repeat("word ", 20000) + "\nFrom: a\n\nbody"
	for _, msg := range []string{
		"From: a\nTo: b\n\nbody\n",
		"From: a\r\n\r\nbody\r\n",
		"From: a\nTo: b\n",
		"From: a\nbody text\nmore\n",
		long,
		"Received: from a\n\tby b\nFrom: a\n\nx",
		" stray: x\nFrom: a\n",
		"Bad Name: x\nFrom: a\n",
	} {
		fields, whole, err := readFields(strings.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		var engine []field
		if _, err := policy.ReadHeaders(bufio.NewReader(strings.NewReader(msg)), func(n, v string) {
			engine = append(engine, field{n, v})
		}); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fields, engine) {
			t.Errorf("%.40q: check reads %q, the engine %q", msg, fields, engine)
		}
		again, _ := io.ReadAll(whole)
		if string(again) != msg {
			t.Errorf("%.40q: handed on as %.40q", msg, again)
		}
	}
}

func TestReadFieldsTooLarge(t *testing.T) {
	msg := strings.Repeat("X-Junk: "+strings.Repeat("j", 70)+"\n", maxHeaderBlock/78+10) + "\nbody"
	_, _, err := readFields(strings.NewReader(msg))
	if err == nil || !strings.Contains(err.Error(), "larger than 1 MiB") {
		t.Errorf("err = %v", err)
	}
}

func TestBareAddressAndUnfold(t *testing.T) {
	for in, want := range map[string]string{
		"<a@example.org>":           "a@example.org",
		" <a@example.org> ":         "a@example.org",
		"<>":                        "",
		"":                          "",
		"a@example.org":             "a@example.org",
		"Name <a@example.org> (c)":  "a@example.org",
		"<a@example.org":            "<a@example.org",
		"weird> <a@example.org>":    "a@example.org",
		"<<nested@example.org>>":    "<nested@example.org>",
		"  plain@example.org\t ":    "plain@example.org",
		"<\"quoted@\"@example.org>": "\"quoted@\"@example.org",
	} {
		if got := bareAddress(in); got != want {
			t.Errorf("bareAddress(%q) = %q, want %q", in, got, want)
		}
	}
	if got := unfold(" from a\n\tby b\r\n  id  1 "); got != "from a by b id 1" {
		t.Errorf("unfold = %q", got)
	}
}
