package main

// The configuration reference (docs/configuration.md) and the man page
// spoofguard.toml(5) are checked against the code: every key that
// config.ConfigKeys() lists must be documented, nothing else may be, and
// each documented default must be what the parser really fills in. A key
// added to the code without documentation, or a default changed in one
// place only, fails here.

import (
	"bufio"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/policy"
)

// docKey is one key as a document describes it.
type docKey struct {
	line     int
	def      string // the default as a TOML value; "" when none was found
	required bool
}

// docReferenceKeys parses docs/configuration.md: each key is a heading
// "### `table.key`", followed by a line "Default: `TOML value` ..." or
// "Required.".
func docReferenceKeys(t *testing.T) map[string]*docKey {
	t.Helper()
	heading := regexp.MustCompile("^### `([a-z_]+\\.[a-z_]+)`\\s*$")
	deflt := regexp.MustCompile("^Default: `([^`]*)`")
	keys := map[string]*docKey{}
	var cur *docKey
	sc := bufio.NewScanner(strings.NewReader(exRead(t, "docs/configuration.md")))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			cur = nil
		}
		if m := heading.FindStringSubmatch(line); m != nil {
			if keys[m[1]] != nil {
				t.Errorf("docs/configuration.md:%d: %s documented twice", n, m[1])
			}
			cur = &docKey{line: n}
			keys[m[1]] = cur
			continue
		}
		if cur == nil || cur.def != "" || cur.required {
			continue
		}
		if m := deflt.FindStringSubmatch(line); m != nil {
			cur.def = m[1]
		} else if strings.HasPrefix(line, "Required.") {
			cur.required = true
		}
	}
	return keys
}

// docManKeys parses spoofguard.toml(5): each ".SS [table]" or
// ".SS [[table]]" starts a table, and each ".TP" followed by ".B key" in
// it is a key, whose description starts with `Default VALUE.` (an
// optional parenthesis before the full stop) or "Required.".
func docManKeys(t *testing.T) map[string]*docKey {
	t.Helper()
	section := regexp.MustCompile(`^\.SS "?\[\[?([a-z_]+)\]\]?"?$`)
	deflt := regexp.MustCompile(`^Default (.*?)( \(.*\))?\.$`)
	lines := strings.Split(exRead(t, "packaging/man/spoofguard.toml.5"), "\n")
	keys := map[string]*docKey{}
	table := ""
	var cur *docKey
	for i, line := range lines {
		switch {
		case strings.HasPrefix(line, ".SH"):
			table, cur = "", nil
		case strings.HasPrefix(line, ".SS"):
			table, cur = "", nil
			if m := section.FindStringSubmatch(line); m != nil {
				table = m[1]
			}
		case table != "" && line == ".TP" && i+1 < len(lines) && strings.HasPrefix(lines[i+1], ".B "):
			key := table + "." + manUnescape(strings.TrimPrefix(lines[i+1], ".B "))
			if keys[key] != nil {
				t.Errorf("spoofguard.toml.5:%d: %s documented twice", i+2, key)
			}
			cur = &docKey{line: i + 2}
			keys[key] = cur
		case cur != nil && cur.def == "" && !cur.required:
			if m := deflt.FindStringSubmatch(line); m != nil {
				cur.def = manUnescape(m[1])
			} else if line == "Required." {
				cur.required = true
			}
		}
	}
	return keys
}

// manUnescape undoes the roff escapes the man page uses in names and values.
func manUnescape(s string) string {
	return strings.NewReplacer(`\-`, "-", `\(dq`, `"`, `\e`, `\`).Replace(s)
}

func TestReferenceDocumentsEveryKey(t *testing.T) {
	test := func(doc string, keys map[string]*docKey) {
		t.Helper()
		code := config.ConfigKeys()
		if len(code) < 30 {
			t.Fatalf("config.ConfigKeys() returned only %d keys", len(code))
		}
		for _, k := range code {
			if keys[k] == nil {
				t.Errorf("%s: key %s exists in the code but is not documented", doc, k)
			}
		}
		for k, d := range keys {
			if !slices.Contains(code, k) {
				t.Errorf("%s:%d: documents %s, which the code does not have", doc, d.line, k)
			}
		}
	}
	test("docs/configuration.md", docReferenceKeys(t))
	test("packaging/man/spoofguard.toml.5", docManKeys(t))
}

// docSnippet is a configuration in which key (a path from ConfigKeys) can
// be written or left out. Keys of [[relay]] and [[domain]] need a valid
// table around them; the other keys of that table are written as well,
// unless they are the key under test.
func docSnippet(key, line string) string {
	table, name, _ := strings.Cut(key, ".")
	var around []string
	switch table {
	case "relay":
		around = []string{`name = "r"`, `networks = ["192.0.2.0/24"]`, `spf = ["_spf.example.net"]`}
	case "domain":
		around = []string{`name = "example.org"`}
	}
	var b strings.Builder
	if around != nil {
		fmt.Fprintf(&b, "[[%s]]\n", table)
	} else {
		fmt.Fprintf(&b, "[%s]\n", table)
	}
	for _, l := range around {
		if !strings.HasPrefix(l, name+" ") {
			b.WriteString(l + "\n")
		}
	}
	if line != "" {
		b.WriteString(line + "\n")
	}
	return b.String()
}

// docCheckDefault proves a documented default: the configuration with
// `key = default` written out must equal the one without the key. A
// required key must make the configuration fail when it is left out.
func docCheckDefault(key string, d *docKey) error {
	_, name, _ := strings.Cut(key, ".")
	without, errWithout := config.ParseConfig("doc.toml", []byte(docSnippet(key, "")))
	if d.required {
		if errWithout == nil {
			return fmt.Errorf("documented as required, but a configuration without it loads")
		}
		return nil
	}
	if d.def == "" {
		return fmt.Errorf("no default documented")
	}
	if errWithout != nil {
		return fmt.Errorf("the configuration without the key does not load: %v", errWithout)
	}
	with, err := config.ParseConfig("doc.toml", []byte(docSnippet(key, name+" = "+d.def)))
	if err != nil {
		return fmt.Errorf("the documented default %s does not load: %v", d.def, err)
	}
	if !reflect.DeepEqual(with, without) {
		return fmt.Errorf("%s = %s is not the default: the configuration differs from one without the key", name, d.def)
	}
	return nil
}

func TestReferenceDefaults(t *testing.T) {
	test := func(doc string, keys map[string]*docKey) {
		t.Helper()
		for _, k := range config.ConfigKeys() {
			if d := keys[k]; d != nil {
				if err := docCheckDefault(k, d); err != nil {
					t.Errorf("%s:%d: %s: %v", doc, d.line, k, err)
				}
			}
		}
	}
	test("docs/configuration.md", docReferenceKeys(t))
	test("packaging/man/spoofguard.toml.5", docManKeys(t))
}

// TestReferenceDefaultsCanFail feeds docCheckDefault wrong defaults, so
// TestReferenceDefaults is known to catch them.
func TestReferenceDefaultsCanFail(t *testing.T) {
	for key, d := range map[string]*docKey{
		"dns.timeout":       {def: `"3s"`},
		"milter.listen":     {def: `"inet:127.0.0.1:8892"`},
		"domain.via":        {def: `"filter"`},
		"relay.hops":        {def: `2`},
		"networks.trusted":  {def: `[]`},
		"domain.subdomains": {def: `false`},
		"dmarc.enabled":     {required: true},
		"relay.name":        {def: `"r"`},
	} {
		if err := docCheckDefault(key, d); err == nil {
			t.Errorf("%s: wrong default %+v accepted", key, *d)
		}
	}
}

// TestReferenceDescribesEveryRule: each rule the engine can report has a
// section in the reference and an entry in the man page.
func TestReferenceDescribesEveryRule(t *testing.T) {
	ref := exRead(t, "docs/configuration.md")
	man := exRead(t, "packaging/man/spoofguard.toml.5")
	for _, r := range policy.Rules {
		if !strings.Contains(ref, "\n### "+r+"\n") {
			t.Errorf("docs/configuration.md has no section \"### %s\"", r)
		}
		if !strings.Contains(man, "\n.TP\n.B "+strings.ReplaceAll(r, "-", `\-`)+"\n") {
			t.Errorf("spoofguard.toml.5 does not describe the rule %s", r)
		}
	}
}

// TestManPageCommands: every command the usage text lists is described
// in spoofguard(8).
func TestManPageCommands(t *testing.T) {
	var usageText strings.Builder
	usage(&usageText)
	man := exRead(t, "packaging/man/spoofguard.8")
	cmd := regexp.MustCompile(`(?m)^\s+spoofguard ([a-z-]+(?: [a-z]+)?)\b`)
	found := cmd.FindAllStringSubmatch(usageText.String(), -1)
	if len(found) < 3 {
		t.Fatalf("usage lists %d commands:\n%s", len(found), usageText.String())
	}
	for _, m := range found {
		if !strings.Contains(man, "\n.TP\n.B "+m[1]+"\n") {
			t.Errorf("spoofguard.8 does not describe the command %q", m[1])
		}
	}
}

// TestDocumentedSnippetsLoad: every ```toml block in the README and the
// reference is a configuration that loads as written.
func TestDocumentedSnippetsLoad(t *testing.T) {
	block := regexp.MustCompile("(?s)```toml\n(.*?)```")
	n := 0
	for _, doc := range []string{"README.md", "docs/configuration.md"} {
		for _, m := range block.FindAllStringSubmatch(exRead(t, doc), -1) {
			n++
			if _, err := config.ParseConfig(doc, []byte(m[1])); err != nil {
				t.Errorf("%s: a toml block does not load:\n%s\n%v", doc, m[1], err)
			}
		}
	}
	if n == 0 {
		t.Error("no ```toml blocks found")
	}
}
