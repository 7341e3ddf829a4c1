package main

import (
	"bytes"
	"encoding/json"
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
