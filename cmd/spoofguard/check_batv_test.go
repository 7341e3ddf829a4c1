package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spoofguard/spoofguard/batv"
)

// batvToolWorld is the check world with a BATV key; it returns the
// folder of the key and the key file.
func batvToolWorld(t *testing.T) (*toolWorld, string, string) {
	t.Helper()
	w := newToolWorld(t, "check", "spoofguard.toml")
	dir := t.TempDir()
	key := filepath.Join(dir, "batv.key")
	if err := batv.WriteNewKey(key); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(w.cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	fmt.Fprintf(f, "\n[backscatter]\nkeys = [%q]\nstate = %q\n", key, filepath.Join(dir, "batv.state"))
	f.Close()
	return w, dir, key
}

// `spoofguard check` explains a bounce's tag: valid (which key, days
// left), expired (how long ago), or made by none of the keys, with the
// expiry day; and an untagged bounce's fate.
func TestCheckExplainsBATV(t *testing.T) {
	w, dir, key := batvToolWorld(t)
	keys, _ := batv.LoadKeys([]string{key})
	bounce := filepath.Join(dir, "bounce.eml")
	os.WriteFile(bounce, []byte("From: MAILER-DAEMON@mx.far.example\nTo: alice@edge.example\nSubject: Undelivered Mail Returned to Sender\n"+
		"Date: Sat, 5 Dec 2026 10:00:00 +0000\nMessage-ID: <b1@mx.far.example>\nMIME-Version: 1.0\n"+
		"Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n--B\nContent-Type: text/plain\n\nfailed\n--B--\n"), 0o644)
	now := time.Now()
	wrong, _ := batv.Parse(keys.Sign("alice@edge.example", now))
	wrong.Day = (wrong.Day + 1) % 1000
	for _, c := range []struct {
		rcpt    string
		verdict string
		says    []string
	}{
		{keys.Sign("alice@edge.example", now.Add(-2*24*time.Hour)), "accept", []string{"valid BATV tag (key " + key, "5 more days"}},
		{keys.Sign("alice@edge.example", now.Add(-9*24*time.Hour)), "reject", []string{"expired 2 days ago", "550 5.7.1 not a bounce of our mail: the address tag has expired"}},
		{wrong.String(), "reject", []string{"made by none of our keys", fmt.Sprintf("expiry day %03d", wrong.Day)}},
		{"alice@edge.example", "accept", []string{"untagged bounce", "BATV signing has not started yet"}},
	} {
		out, errs, code := runCommand("check", "-config", w.cfgPath, "--client-ip", "192.0.2.30", "--helo", "mail.partner.example",
			"--mail-from", "<>", "--rcpt", c.rcpt, bounce)
		if code != 0 || !strings.Contains(out, "\nVerdict: "+c.verdict) {
			t.Fatalf("%s: exit %d %s\n%s", c.rcpt, code, errs, out)
		}
		for _, s := range c.says {
			if !strings.Contains(out, s) {
				t.Errorf("%s: the explanation lacks %q:\n%s", c.rcpt, s, out)
			}
		}
	}
}

// check shows the envelope sender the daemon would set for own mail.
func TestCheckShowsSignedSender(t *testing.T) {
	w, dir, _ := batvToolWorld(t)
	msg := filepath.Join(dir, "own.eml")
	os.WriteFile(msg, []byte("From: alice@example.org\nTo: friend@partner.example\nSubject: hi\nMessage-ID: <o1@example.org>\n\nhi\n"), 0o644)
	out, errs, code := runCommand("check", "-config", w.cfgPath, "--client-ip", "203.0.113.10", "--helo", "mail.example.org",
		"--mail-from", "alice@example.org", "--rcpt", "friend@partner.example", msg)
	if code != 0 || !strings.Contains(out, "Envelope sender the daemon sets (BATV): <prvs=") {
		t.Fatalf("exit %d %s\n%s", code, errs, out)
	}
	jsonOut, _, _ := runCommand("check", "-config", w.cfgPath, "--client-ip", "203.0.113.10", "--helo", "mail.example.org",
		"--mail-from", "alice@example.org", "--rcpt", "friend@partner.example", "--json", msg)
	if !strings.Contains(jsonOut, `"envelope_sender": "prvs=`) && !strings.Contains(jsonOut, `"envelope_sender":"prvs=`) {
		t.Errorf("JSON lacks envelope_sender:\n%s", jsonOut)
	}
}
