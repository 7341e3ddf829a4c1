package explain

import (
	"bufio"
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func TestParseFields(t *testing.T) {
	test := func(name, block string, want []field) {
		t.Run(name, func(t *testing.T) {
			got := parseFields([]byte(block))
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
		[]field{{"Received", " from a\n\tby b\n id 1"}, {"Subject", " x"}})
	test("no space after the colon", "X-Original-To:user@example.org\n",
		[]field{{"X-Original-To", "user@example.org"}})
	test("a line that is no field ends the block", "From: a\nthis is body text\nTo: b\n",
		[]field{{"From", " a"}})
	test("continuation before any field is dropped", " stray\nFrom: a\n",
		[]field{{"From", " a"}})
	test("a field name with a space is no field", "Bad Name: x\nFrom: a\n", nil)
	test("empty name", ": x\n", nil)
	test("last line without a line end", "From: a\nTo: b", []field{{"From", " a"}, {"To", " b"}})
	test("empty", "", nil)
}

func TestReadHeaderBlock(t *testing.T) {
	test := func(name, msg, wantBlock string) {
		t.Run(name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(msg), 16)
			block, err := readHeaderBlock(br)
			if err != nil {
				t.Fatal(err)
			}
			if string(block) != wantBlock {
				t.Errorf("block %q, want %q", block, wantBlock)
			}
			rest := new(bytes.Buffer)
			rest.ReadFrom(br)
			if string(block)+rest.String() != msg {
				t.Errorf("block and rest do not make the message again")
			}
		})
	}
	test("ends at the empty line", "From: a\nTo: b\n\nbody\n", "From: a\nTo: b\n\n")
	test("CRLF", "From: a\r\n\r\nbody\r\n", "From: a\r\n\r\n")
	test("no body", "From: a\nTo: b\n", "From: a\nTo: b\n")
	test("no empty line before the body", "From: a\nbody text\nmore\n", "From: a\nbody text\n")
	// Lines longer than the reader's buffer are read in pieces; a piece
	// that happens to start with a space must not end the block.
	long := "Subject: " + strings.Repeat("word ", 20) + "\nFrom: a\n\nbody"
	test("long lines", long, strings.TrimSuffix(long, "body"))
	test("folded", "Received: from a\n\tby b\nFrom: a\n\nx", "Received: from a\n\tby b\nFrom: a\n\n")
}

func TestReadHeaderBlockTooLarge(t *testing.T) {
	msg := strings.Repeat("X-Junk: "+strings.Repeat("j", 70)+"\n", maxHeaderBlock/78+10) + "\nbody"
	_, err := readHeaderBlock(bufio.NewReader(strings.NewReader(msg)))
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
