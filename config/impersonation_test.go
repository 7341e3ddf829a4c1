package config

import (
	"strings"
	"testing"
)

// TestImpersonationConfig: the keys' defaults, and the values refused
// with the key that holds them.
func TestImpersonationConfig(t *testing.T) {
	cfg, err := ParseConfig("t.toml", []byte("[[domain]]\nname = \"example.org\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cfg.Domains[0]; d.DisplayName != ActionQuarantine || d.Lookalike != ActionQuarantine || d.People != nil || d.LookalikeAllow != nil {
		t.Errorf("defaults: %+v", d)
	}
	cfg, err = ParseConfig("t.toml", []byte("[[domain]]\nname = \"example.org\"\nlookalike_allow = [\"EXAMPLE.COM.\"]\npeople = [\"Jane Doe\"]\n"))
	if err != nil || cfg.Domains[0].LookalikeAllow[0] != "example.com" {
		t.Errorf("normalised allow list: %v %v", cfg, err)
	}
	for _, c := range []struct{ lines, want string }{
		{`people = ["Jane"]`, "domain[0].people[0]: \"Jane\": a protected person needs a given name and a family name"},
		{`people = ["Jane Doe", "J. Doe"]`, "domain[0].people[1]: \"J. Doe\": the given and the family name must be written out"},
		{`lookalike_allow = ["com"]`, "domain[0].lookalike_allow[0]: com is a public suffix"},
		{`lookalike_allow = ["bad..name"]`, "domain[0].lookalike_allow[0]: invalid domain name"},
		{`lookalike = "hold"`, "domain[0].lookalike: unknown action"},
		{`display_name = "drop"`, "domain[0].display_name: unknown action"},
	} {
		_, err := ParseConfig("t.toml", []byte("[[domain]]\nname = \"example.org\"\n"+c.lines+"\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.lines, err, c.want)
		}
	}
}
