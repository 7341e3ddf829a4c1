package policy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/dnsauth/dkim"
	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
	"github.com/spoofguard/spoofguard/header"
)

// corpusPeople are protected people for the false-positive measurement:
// common given and family names, none of them an author in the corpora.
var corpusPeople = func() []string {
	firsts := strings.Fields("Jane John Mary Michael Linda David Susan Robert Karen William")
	lasts := strings.Fields("Doe Smith Johnson Williams Brown Jones Miller Davis Wilson Taylor")
	var out []string
	for _, f := range firsts {
		for _, l := range lasts {
			out = append(out, f+" "+l)
		}
	}
	return out
}()

// TestImpersonationFalsePositives runs display-name and lookalike over
// every message of the public DKIM and message corpora (real mail from
// IETF lists, GitHub, Facebook, Google and test suites), protecting in
// turn each domain the message itself names — its From domains, its
// envelope (Return-Path) domain and its DKIM d= domains — with 100
// protected people. Legitimate mail must not look like an impersonation
// of its own sender's organisation: every hit is a false positive.
func TestImpersonationFalsePositives(t *testing.T) {
	var files []string
	for _, pattern := range []string{
		"dkim-mailauth/00*.txt", "dkim-mail-dkim-perl/corpus/*.txt", "dkim-dkimpy/*.msg", "dkim-rfc8463/*.eml",
		"authmilter-samples/source/*.eml", "authmilter-samples/expected/*.eml", "rspamd-dmarc/messages/*",
	} {
		dir, glob := filepath.Split(pattern)
		found, _ := filepath.Glob(filepath.Join(dnstest.SharedTestdata(t, filepath.Clean(dir)), glob))
		files = append(files, found...)
	}
	messages, runs, hits := 0, 0, 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(filepath.Base(filepath.Dir(f)), "dkim-mailauth") {
			_, raw, _ = bytes.Cut(raw, []byte("\n\n")) // key records come first
		}
		headers := corpusHeaders(raw)
		if len(headers) == 0 {
			continue
		}
		messages++
		for _, dom := range corpusDomains(headers) {
			e := corpusEngine(dom)
			if e == nil {
				continue
			}
			runs++
			m := corpusMessage(e, headers)
			m.checkImpersonation()
			for _, o := range m.Outcomes {
				if o.Result == "fired" {
					hits++
					t.Errorf("%s, protecting %s: %s fired: %s", filepath.Base(f), dom, o.Rule, o.Detail)
				}
			}
		}
	}
	if messages < 100 || runs < messages {
		t.Fatalf("only %d messages and %d runs found", messages, runs)
	}
	// The harness does see an impersonation when there is one.
	m := corpusMessage(corpusEngine("example.org"), corpusHeaders([]byte("From: \"John Smith\" <ceo@examp1e.org>\n\nx\n")))
	if m.checkImpersonation(); m.Observed().Rule != RuleDisplayName && m.Observed().Rule != RuleLookalike {
		t.Errorf("the harness misses a known impersonation: %+v", m.Outcomes)
	}
	t.Logf("%d messages, %d runs (message × own domain protected), %d display-name or lookalike hits", messages, runs, hits)
}

// corpusHeaders splits a message's header block into unfolded fields.
func corpusHeaders(raw []byte) []Header {
	raw = bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))
	block, _, _ := bytes.Cut(raw, []byte("\n\n"))
	var out []Header
	for _, line := range strings.Split(string(block), "\n") {
		if (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) && len(out) > 0 {
			out[len(out)-1].Value += "\r\n" + line
			continue
		}
		if name, value, ok := strings.Cut(line, ":"); ok && !strings.ContainsAny(name, " \t") {
			out = append(out, Header{Name: name, Value: value})
		}
	}
	return out
}

// corpusDomains lists the message's own domains: From, Return-Path and
// DKIM d=, each once.
func corpusDomains(headers []Header) []string {
	var froms, out []string
	add := func(d string) {
		if d = strings.ToLower(strings.TrimSuffix(d, ".")); d != "" && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	for _, h := range headers {
		switch strings.ToLower(h.Name) {
		case "from":
			froms = append(froms, h.Value)
		case "return-path":
			add(DomainOf(h.Value))
		case "dkim-signature":
			if sig, err := dkim.ParseSignature(h.Value); err == nil {
				add(sig.Domain)
			}
		}
	}
	for _, d := range header.ParseFrom(froms).Domains {
		add(d)
	}
	return out
}

// corpusEngine protects one domain (nil when it cannot be protected, a
// public suffix say).
func corpusEngine(domain string) *Engine {
	people := `"` + strings.Join(corpusPeople, `", "`) + `"`
	cfg, err := config.ParseConfig("corpus.toml", []byte(fmt.Sprintf("[[domain]]\nname = %q\npeople = [%s]\n", domain, people)))
	if err != nil {
		return nil
	}
	return NewEngine(context.Background(), cfg, nil, Options{NoRefresh: true})
}

// corpusMessage is the message as it stands at the end of its headers,
// from an Internet client, with the envelope sender of its Return-Path.
func corpusMessage(e *Engine, headers []Header) *Message {
	m := &Message{e: e, Class: ClassInternet, verdict: Accept, observed: Accept, headers: headers}
	m.MailFrom = strings.Trim(strings.TrimSpace(strings.Join(m.headerValues("Return-Path"), "")), "<>")
	m.From = header.ParseFrom(m.headerValues("From"))
	return m
}

// TestDomainIndexAgreesWithConfig: the engine's index finds the same
// protected domain as Config.Domain for names in, under, beside and
// outside the protected ones.
func TestDomainIndexAgreesWithConfig(t *testing.T) {
	cfg, err := config.ParseConfig("t.toml", []byte(`
[[domain]]
name = "example.org"
[[domain]]
name = "mail.example.org"
subdomains = false
[[domain]]
name = "bücher.example"
`))
	if err != nil {
		t.Fatal(err)
	}
	idx := newDomainIndex(cfg)
	for _, n := range []string{"example.org", "EXAMPLE.ORG.", "a.example.org", "mail.example.org", "x.mail.example.org",
		"b.c.mail.example.org", "example.org.evil", "xample.org", "bücher.example", "xn--bcher-kva.example", "a.BÜCHER.example",
		"junk\x00.example.org", "", ".", "org", "a..example.org"} {
		if got, want := idx.lookup(n), cfg.Domain(n); got != want {
			t.Errorf("%q: index %v, Config.Domain %v", n, got, want)
		}
	}
}
