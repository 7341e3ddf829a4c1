package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runStdin runs one command line with the given standard input.
func runStdin(stdin string, args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	code = runWith(args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

// `check -` reads the message from the standard input and explains it
// exactly as the same message in a file.
func TestCheckStdin(t *testing.T) {
	w := newToolWorld(t, "check", "spoofguard.toml")
	file := filepath.Join("testdata", "check", "exchange-direct.eml")
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	fromFile, _, code := runCommand("check", "-config", w.cfgPath, file)
	if code != 0 {
		t.Fatalf("from the file: exit %d", code)
	}
	out, errOut, code := runStdin(string(raw), "check", "-config", w.cfgPath, "-")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if out != fromFile {
		t.Errorf("from the standard input:\n%s\nfrom the file:\n%s", out, fromFile)
	}
	_, errOut, code = runStdin("", "check", "-config", w.cfgPath, "-")
	if code != 1 || !strings.Contains(errOut, "standard input") {
		t.Errorf("empty input: exit %d, stderr %q; want 1 naming the standard input", code, errOut)
	}
}

// checkInputs runs check --json and returns the verdict, the client's
// class and the recorded SMTP AUTH user.
func checkInputs(t *testing.T, stdin string, args ...string) (verdict, class string, auth *struct{ Value, Source string }) {
	t.Helper()
	js, errOut, code := runStdin(stdin, append([]string{"check", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got struct {
		Verdict string
		Client  struct{ Class string }
		Inputs  struct {
			AuthUser *struct{ Value, Source string } `json:"auth_user"`
		}
	}
	if err := json.Unmarshal([]byte(js), &got); err != nil {
		t.Fatal(err)
	}
	return got.Verdict, got.Client.Class, got.Inputs.AuthUser
}

// --auth-user simulates a client that authenticated: an own user may
// send as the protected domain, which is refused from anyone else.
func TestCheckAuthUser(t *testing.T) {
	w := newToolWorld(t, "check", "spoofguard.toml")
	env := []string{"-config", w.cfgPath, "--client-ip", "192.0.2.66", "--helo", "laptop.example",
		"--mail-from", "<ceo@edge.example>", "--rcpt", "user@edge.example", filepath.Join("testdata", "check", "no-trace.eml")}
	verdict, class, auth := checkInputs(t, "", env...)
	if verdict != "reject" || class != "internet" || auth != nil {
		t.Errorf("without --auth-user: %s %s %+v, want reject by an internet client", verdict, class, auth)
	}
	verdict, class, auth = checkInputs(t, "", append([]string{"--auth-user", "ceo"}, env...)...)
	if verdict != "accept" || class != "authenticated" || auth == nil || auth.Value != "ceo" || auth.Source != "--auth-user" {
		t.Errorf("--auth-user ceo: %s %s %+v, want accept from an authenticated client", verdict, class, auth)
	}

	// A Received header recording SMTP AUTH (ESMTPSA) makes the client
	// authenticated; --auth-user "" says it was not.
	msg := "Return-Path: <ceo@edge.example>\nReceived: from laptop.example (unknown [192.0.2.66])\n" +
		"\tby mx.edge.example (Postfix) with ESMTPSA id 4Wq8Bc2Rk9z1xZ\n\tfor <user@edge.example>; Tue, 2 Jan 2024 08:15:04 +0000 (UTC)\n" +
		"From: ceo@edge.example\nTo: user@edge.example\nSubject: hi\n\nhello\n"
	if _, class, auth = checkInputs(t, msg, "-config", w.cfgPath, "-"); class != "authenticated" || auth == nil {
		t.Errorf("ESMTPSA: class %s, auth %+v; want authenticated", class, auth)
	}
	verdict, class, auth = checkInputs(t, msg, "-config", w.cfgPath, "--auth-user", "", "-")
	if verdict != "reject" || class != "internet" || auth != nil {
		t.Errorf("--auth-user \"\": %s %s %+v, want reject by an internet client", verdict, class, auth)
	}
}

// postcatOutput is `postcat -q` of a queue file as Postfix 3.x prints it,
// for a message from 192.0.2.66 that claims an edge.example sender.
func postcatOutput(sasl string) string {
	attrs := ""
	if sasl != "" {
		attrs = "named_attribute: sasl_method=PLAIN\nnamed_attribute: sasl_username=" + sasl + "\n"
	}
	return `*** ENVELOPE RECORDS hold/BDDDA98969C ***
message_size:             406             647               1               0             406               0
message_arrival_time: Sat Dec  5 09:23:46 2026
named_attribute: rewrite_context=remote
sender: ceo@edge.example
named_attribute: log_client_address=192.0.2.66
named_attribute: client_name=unknown
named_attribute: client_address=192.0.2.66
named_attribute: helo_name=laptop.example
named_attribute: protocol_name=ESMTP
` + attrs + `named_attribute: dsn_orig_rcpt=rfc822;user@edge.example
original_recipient: user@edge.example
recipient: mailbox-17@store.edge.example
*** MESSAGE CONTENTS hold/BDDDA98969C ***
Received: from laptop.example (unknown [192.0.2.66])
	by mx.edge.example (Postfix) with ESMTP id BDDDA98969C
	for <user@edge.example>; Sat,  5 Dec 2026 09:23:46 +0000 (UTC)
From: ceo@edge.example
To: user@edge.example
Subject: quarterly figures

*** HEADER EXTRACTED looks like a marker, but is the body ***
*** HEADER EXTRACTED hold/BDDDA98969C ***
*** MESSAGE FILE END hold/BDDDA98969C ***
`
}

// `postcat -q QUEUEID | spoofguard check -`: the envelope comes from the
// queue file's records — client, HELO, sender, the recipient as the
// client wrote it, the SASL user — not from guesses in the headers.
func TestCheckPostcat(t *testing.T) {
	w := newToolWorld(t, "check", "spoofguard.toml")
	js, errOut, code := runStdin(postcatOutput(""), "check", "-config", w.cfgPath, "--json", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got struct{ Verdict, Rule string }
	var raw struct {
		Inputs map[string]json.RawMessage
	}
	json.Unmarshal([]byte(js), &got)
	json.Unmarshal([]byte(js), &raw)
	if got.Verdict != "reject" || got.Rule != "envelope-forgery" {
		t.Errorf("verdict %s rule %s, want reject by envelope-forgery", got.Verdict, got.Rule)
	}
	for key, want := range map[string]string{
		"client_ip": `"192.0.2.66"`, "helo": `"laptop.example"`, "mail_from": `"ceo@edge.example"`, "rcpts": `"user@edge.example"`,
	} {
		if s := string(raw.Inputs[key]); !strings.Contains(s, want) || !strings.Contains(s, "postcat") {
			t.Errorf("inputs.%s = %s, want %s from postcat", key, s, want)
		}
	}
	if _, ok := raw.Inputs["auth_user"]; ok {
		t.Errorf("auth_user without a sasl_username record: %s", raw.Inputs["auth_user"])
	}

	// The same message from an authenticated user is accepted, and the
	// body line that looks like a marker is part of the message.
	verdict, class, auth := checkInputs(t, postcatOutput("ceo"), "-config", w.cfgPath, "-")
	if verdict != "accept" || class != "authenticated" || auth == nil || auth.Value != "ceo" {
		t.Errorf("sasl_username=ceo: %s %s %+v, want accept from an authenticated client", verdict, class, auth)
	}

	// A flag still overrides what the queue file says.
	if _, class, _ := checkInputs(t, postcatOutput("ceo"), "-config", w.cfgPath, "--auth-user", "", "-"); class != "internet" {
		t.Errorf("--auth-user \"\" over sasl_username: class %s, want internet", class)
	}

	_, errOut, code = runStdin("*** ENVELOPE RECORDS hold/X ***\nsender: a@b.example\n", "check", "-config", w.cfgPath, "-")
	if code != 1 || !strings.Contains(errOut, "MESSAGE CONTENTS") {
		t.Errorf("postcat -e output: exit %d, stderr %q; want 1 naming the missing section", code, errOut)
	}
}

// The message postcat shows is passed on exactly: up to the last section
// marker, whatever the body contains.
func TestParsePostcatMessage(t *testing.T) {
	r, env, err := parsePostcat([]byte(postcatOutput("")))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(r)
	if !strings.HasPrefix(string(msg), "Received: from laptop.example") || !strings.HasSuffix(string(msg), "*** HEADER EXTRACTED looks like a marker, but is the body ***\n") {
		t.Errorf("message:\n%s", msg)
	}
	if len(env.rcpts) != 1 || env.rcpts[0] != "user@edge.example" {
		t.Errorf("recipients %v, want the original recipient", env.rcpts)
	}
}
