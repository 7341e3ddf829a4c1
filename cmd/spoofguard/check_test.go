package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

// updateToolsGolden rewrites the golden files of `check` and `audit` (and
// the DKIM-signed sample) instead of comparing with them.
var updateToolsGolden = flag.Bool("update-tools-golden", false, "rewrite testdata goldens of check and audit")

// partnerKey is partner.example's DKIM key (selector "sel"), derived from
// a constant seed: Ed25519 signatures are deterministic, so the signed
// sample and every golden stay byte for byte the same.
func partnerKey() ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("spoofguard check tests: partner.example, selector sel"))
	return ed25519.NewKeyFromSeed(seed[:])
}

// toolWorld is a DNS server loaded from a zone file in testdata and a
// configuration written from a template there, pointing at that server.
type toolWorld struct {
	dns     *dnstest.Server
	cfgPath string
}

func newToolWorld(t *testing.T, dir, config string) *toolWorld {
	t.Helper()
	zone, err := os.ReadFile(filepath.Join("testdata", dir, "zone.txt"))
	if err != nil {
		t.Fatal(err)
	}
	w := &toolWorld{dns: dnstest.New(t, string(zone))}
	pub := partnerKey().Public().(ed25519.PublicKey)
	w.dns.MustAdd(t, `sel._domainkey.partner.example. IN TXT "v=DKIM1; k=ed25519; p=`+base64.StdEncoding.EncodeToString(pub)+`"`)
	w.cfgPath = w.config(t, filepath.Join("testdata", dir, config))
	return w
}

// config writes the template at path with the DNS server filled in and
// returns where it was written.
func (w *toolWorld) config(t *testing.T, path string) string {
	t.Helper()
	tmpl, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(out, bytes.ReplaceAll(tmpl, []byte("{{dns}}"), []byte(w.dns.Addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// run runs one command line and returns its output and exit status.
func runCommand(args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return out.String(), errb.String(), code
}

// golden compares got with the file at path, or rewrites the file.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *updateToolsGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update-tools-golden to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update-tools-golden rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// partnerSigned is the sample of a partner's DKIM-signed message that
// came through the filter: the part the partner signed, and the trace
// headers added after signing.
const (
	partnerSignedTrace = "Return-Path: <alice@partner.example>\n" +
		"X-Original-To: bob@example.org\n" +
		"Delivered-To: bob@example.org\n" +
		"Received: from filter.example.org (filter.example.org [198.51.100.5])\n" +
		"\tby backend.example.org (Postfix) with ESMTPS id 4WqBC45Ef6z7gH\n" +
		"\tfor <bob@example.org>; Sat, 6 Jan 2024 14:00:03 +0000 (UTC)\n" +
		"Received: from mail.partner.example (mail.partner.example [192.0.2.30])\n" +
		"\tby filter.example.org (Postfix) with ESMTPS id 4WqBC3Zx1yz2hJ\n" +
		"\tfor <bob@example.org>; Sat, 6 Jan 2024 14:00:02 +0000 (UTC)\n"
	partnerSignedPart = "From: Alice <alice@partner.example>\r\n" +
		"To: Bob <bob@example.org>\r\n" +
		"Subject: Minutes of today's meeting\r\n" +
		"Date: Sat, 6 Jan 2024 14:00:00 +0000\r\n" +
		"Message-ID: <minutes-42@partner.example>\r\n" +
		"\r\n" +
		"Hello Bob,\r\n\r\nthe minutes are below.\r\n"
)

// writePartnerSigned signs the partner sample with the fixed key and
// writes it with LF line ends, as a mailbox would store it.
func writePartnerSigned(t *testing.T, path string) {
	t.Helper()
	var signed bytes.Buffer
	err := dkim.Sign(&signed, strings.NewReader(partnerSignedPart), &dkim.SignOptions{
		Domain: "partner.example", Selector: "sel", Signer: partnerKey(),
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
		HeaderKeys: []string{"From", "To", "Subject", "Date", "Message-ID"},
	})
	if err != nil {
		t.Fatal(err)
	}
	msg := partnerSignedTrace + strings.ReplaceAll(signed.String(), "\r\n", "\n")
	if err := os.WriteFile(path, []byte(msg), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkCase is one `spoofguard check` run with its expected verdict; the
// full trace is in the goldens testdata/check/<name>.txt and .json.
type checkCase struct {
	name  string
	args  []string // besides -config; the message file last
	want  checkWant
	notes []string // text the trace must contain
}

type checkWant struct {
	Verdict    string `json:"verdict"`
	Rule       string `json:"rule"`
	Stage      string `json:"stage"`
	ReportOnly bool   `json:"report_only"`
	Path       struct {
		Kind string `json:"kind"`
	} `json:"path"`
}

func want(verdict, rule, stage, path string, reportOnly bool) checkWant {
	w := checkWant{Verdict: verdict, Rule: rule, Stage: stage, ReportOnly: reportOnly}
	w.Path.Kind = path
	return w
}

func TestCheckSituations(t *testing.T) {
	// The signature carries its signing time (t=), so the sample is
	// signed only when missing: delete it to sign it again.
	signed := filepath.Join("testdata", "check", "partner-signed.eml")
	if _, err := os.Stat(signed); *updateToolsGolden && os.IsNotExist(err) {
		writePartnerSigned(t, signed)
	}
	w := newToolWorld(t, "check", "spoofguard.toml")
	msg := func(name string) string { return filepath.Join("testdata", "check", name+".eml") }
	cases := []checkCase{
		// (1) The filter relayed an own-domain forgery: the relay's
		// header names the spammer, and no DKIM signature can rescue
		// the From, so header forgery refuses it at end of headers —
		// although example.org publishes p=none.
		{name: "through-filter-forgery", args: []string{msg("through-filter-forgery")},
			want:  want("reject", "header-forgery", "end-of-headers", "relayed", false),
			notes: []string{`Received header #1 names the original client 192.0.2.66`, "← Return-Path header", "← X-Original-To header"}},
		// The same, saved at the filter (its header on top), with the
		// back end's client given on the command line.
		{name: "relay-header-on-top", args: []string{"--client-ip", "198.51.100.5", "--helo", "filter.example.org",
			"--mail-from", "bounce@spammer.example", "--rcpt", "user@example.org", msg("relay-header-on-top")},
			want:  want("reject", "header-forgery", "end-of-headers", "relayed", false),
			notes: []string{"Received header #0 names the original client 192.0.2.66", "← --client-ip"}},
		// (2) A partner's Exchange server delivered straight to the back
		// end: direct delivery, refused at RCPT TO.
		{name: "exchange-direct", args: []string{msg("exchange-direct")},
			want:  want("reject", "direct-delivery", "rcpt", "direct", false),
			notes: []string{"a bypass of the filter", "<accounts@example.org>  refused at RCPT TO: 550 5.7.1"}},
		// (3) The filter writes Exim headers; the original client is a
		// spammer forging a partner that publishes p=quarantine.
		{name: "exim-relay", args: []string{msg("exim-relay")},
			want:  want("quarantine", "dmarc", "end-of-body", "relayed", false),
			notes: []string{"names the original client 192.0.2.66 (HELO spam.spammer.example)", "250 accepted, held in quarantine"}},
		// (4) The partner's signed mail through the filter.
		{name: "partner-signed", args: []string{msg("partner-signed")},
			want:  want("accept", "", "end-of-body", "relayed", false),
			notes: []string{"dkim=pass header.d=partner.example", "dmarc=pass"}},
		// The same message carrying Authentication-Results fields that
		// claim the back end's authserv-id and a verdict header written
		// before it: check lists what the daemon deletes, and why.
		{name: "forged-results", args: []string{msg("forged-results")},
			want: want("accept", "", "end-of-body", "relayed", false),
			notes: []string{"Headers the daemon removes",
				"  Authentication-Results #3: claims our authserv-id backend.example.org\n    BACKEND.example.org.; dkim=pass",
				"  Authentication-Results #1: claims our authserv-id backend.example.org\n    backend.example.org;\n    \tspf=pass",
				"  X-Spoofguard #1: a verdict header from outside\n    accept\n"}},
		// (5) An own-domain forgery of a domain in report-only mode.
		{name: "report-only", args: []string{msg("report-only")},
			want:  want("accept", "header-forgery", "end-of-headers", "relayed", true),
			notes: []string{"report-only: not enforced", "would      reject by rule header-forgery"}},
		// Every fact from the command line: a forged own envelope
		// sender to an edge-MX domain is refused at MAIL FROM, before
		// the recipients.
		{name: "envelope-forgery", args: []string{"--client-ip", "192.0.2.66", "--helo", "spam.spammer.example",
			"--mail-from", "<ceo@edge.example>", "--rcpt", "user@edge.example", msg("no-trace")},
			want:  want("reject", "envelope-forgery", "mail-from", "direct", false),
			notes: []string{"not reached: the transaction ended at MAIL FROM"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"check", "-config", w.cfgPath}, c.args...)
			out, errOut, code := runCommand(args...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			golden(t, filepath.Join("testdata", "check", c.name+".txt"), out)
			for _, n := range c.notes {
				if !strings.Contains(out, n) {
					t.Errorf("trace lacks %q", n)
				}
			}
			// --json after the file: flags may follow it.
			js, errOut, code := runCommand(append(args, "--json")...)
			if code != 0 || errOut != "" {
				t.Fatalf("--json: exit %d, stderr %q", code, errOut)
			}
			golden(t, filepath.Join("testdata", "check", c.name+".json"), js)
			var got checkWant
			if err := json.Unmarshal([]byte(js), &got); err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

// TestCheckJSONFields pins the JSON interface: every documented field is
// present, with the type a consumer expects.
func TestCheckJSONFields(t *testing.T) {
	w := newToolWorld(t, "check", "spoofguard.toml")
	js, errOut, code := runCommand("check", "-config", w.cfgPath, "--json", filepath.Join("testdata", "check", "report-only.eml"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(js), &obj); err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{
		"verdict": "string", "rule": "string", "domain": "string", "reason": "string", "stage": "string",
		"ended": "string", "reply": "string", "report_only": "bool", "would": "object", "inputs": "object",
		"client": "object", "path": "object", "recipients": "array", "from": "object", "spf": "object",
		"dkim": "array", "dmarc": "array", "outcomes": "array", "removed_headers": "array", "authentication_results": "string",
		"verdict_header": "object",
	}
	for name, typ := range fields {
		if got := jsonType(obj[name]); got != typ {
			t.Errorf("%s: %s, want %s", name, got, typ)
		}
	}
	for parent, names := range map[string][]string{
		"client": {"ip", "helo", "class", "reason", "relay"},
		"path":   {"kind", "relay", "header_index", "received", "original_client", "error", "bypass", "summary"},
		"would":  {"action", "rule", "domain", "reason", "stage", "reply"},
		"inputs": {"client_ip", "helo", "mail_from", "rcpts"},
	} {
		sub, _ := obj[parent].(map[string]any)
		for _, n := range names {
			if _, ok := sub[n]; !ok {
				t.Errorf("%s.%s missing", parent, n)
			}
		}
	}
}

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "bool"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case float64:
		return "number"
	case nil:
		return "null"
	}
	return "?"
}

func TestCheckErrors(t *testing.T) {
	w := newToolWorld(t, "check", "spoofguard.toml")
	badCfg := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(badCfg, []byte("[milter]\nmode = \"loud\"\n[[domain]]\nname = \"example.org\"\nvia = \"nowhere\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	noRcpt := filepath.Join(t.TempDir(), "no-rcpt.eml")
	if err := os.WriteFile(noRcpt, []byte("Received: from a.example (a.example [192.0.2.9]) by b.example (Postfix) with ESMTP id 1\nReturn-Path: <x@a.example>\nFrom: x@a.example\n\nhi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	msg := filepath.Join("testdata", "check", "relay-header-on-top.eml")
	test := func(name string, code int, stderr []string, args ...string) {
		t.Run(name, func(t *testing.T) {
			out, errOut, got := runCommand(append([]string{"check"}, args...)...)
			if got != code {
				t.Errorf("exit %d, want %d; stderr: %s", got, code, errOut)
			}
			if out != "" {
				t.Errorf("stdout: %q", out)
			}
			for _, s := range stderr {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errOut)
				}
			}
		})
	}
	test("no message", 2, []string{"usage: spoofguard check"}, "-config", w.cfgPath)
	test("two messages", 2, []string{"usage: spoofguard check"}, "-config", w.cfgPath, msg, msg)
	test("unknown flag", 2, []string{"flag provided but not defined: -loud"}, "-config", w.cfgPath, "-loud", msg)
	test("bad client address", 2, []string{`--client-ip "mx.example" is not an IP address`}, "-config", w.cfgPath, "--client-ip", "mx.example", msg)
	test("unreadable message", 1, []string{"no-such.eml"}, "-config", w.cfgPath, "no-such.eml")
	test("bad configuration: every problem", 1, []string{badCfg + ":2: milter.mode:", badCfg + ":5: domain[0].via:"}, "-config", badCfg, msg)
	test("missing configuration", 1, []string{"no-such.toml"}, "-config", "no-such.toml", msg)
	test("client neither given nor traced", 1, []string{"no Received header", "--client-ip"},
		"-config", w.cfgPath, filepath.Join("testdata", "check", "no-trace.eml"))
	test("sender neither given nor in Return-Path", 1, []string{"no Return-Path", "--mail-from"},
		"-config", w.cfgPath, "--client-ip", "198.51.100.5", msg)
	test("no recipient anywhere", 1, []string{"names no recipient", "--rcpt"}, "-config", w.cfgPath, noRcpt)
	test("unreadable topmost Received", 1, []string{"topmost Received header does not name the connecting client"},
		"-config", w.cfgPath, filepath.Join("testdata", "check", "garbage-received.eml"))
}
