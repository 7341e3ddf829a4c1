package received

import (
	"strings"
	"testing"
	"time"
)

// TestLinearTime feeds the unbounded parser inputs of four megabytes shaped to
// trip quadratic scanning: unclosed "<" inside comments, deep nesting,
// thousands of comments, literals and quoted strings. Linear work finishes
// in milliseconds; quadratic work on this size would take hours, so the
// deadline separates the two without depending on machine speed.
func TestLinearTime(t *testing.T) {
	const n = 4 << 20
	rep := func(s string) string { return strings.Repeat(s, n/len(s)) }
	inputs := map[string]string{
		"open-angles-in-comment": "from h (" + rep("<") + ")",
		"open-angles-then-close": "from h (" + rep("<a ") + "> [192.0.2.1]) by x",
		"deep-nesting":           "from h (" + rep("(") + rep(")") + ") by x",
		"unterminated-nesting":   "from h (" + rep("(") + " by x",
		"many-comments":          "from h " + rep("(a) ") + " by x",
		"many-helo-notes":        "from h " + rep("(HELO a) ") + " by x",
		"long-tcp-info":          "from h (" + rep("x ") + "[192.0.2.1]) by x",
		"many-literals":          "from h " + rep("[a] ") + " by x",
		"open-literals":          "from h (" + rep("[") + ") by x",
		"many-quoted-for":        "from h ([192.0.2.1]) by x " + rep("for \"a\" "),
		"long-with":              "from h ([192.0.2.1]) by x with " + rep("w "),
		"folded-with":            "from h ([192.0.2.1]) by x with " + rep("w \r\n "),
		"many-semicolons":        "from h ([192.0.2.1]) by x " + rep(";"),
		"date-comments":          "from h ([192.0.2.1]) by x; " + rep("(") + rep(")"),
		"date-spaces":            "from h ([192.0.2.1]) by x; " + rep(" ") + "Tue, 3 Sep 2024 10:00:00 +0200",
		"backslashes-in-comment": "from h (" + rep("\\") + ") by x",
		"many-by":                "from h ([192.0.2.1]) " + rep("by "),
		"many-clauses":           "from h ([192.0.2.1]) by x " + rep("id a for <b> with c via d "),
		"many-words-before-by":   "from h ([192.0.2.1]) " + rep("word "),
		"long-word":              "from " + rep("a") + " ([192.0.2.1]) by x",
		"garbage":                rep("(((<[\"\\ "),
		"exim-helo-items":        "from h ([192.0.2.1] " + rep("helo= ") + ") by x",
		"leading-comments":       rep("(a) ") + "from h ([192.0.2.1]) by x",
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for name, in := range inputs {
			start := time.Now()
			_, _ = parse(in)
			t.Logf("%s: %v", name, time.Since(start))
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("parsing hostile 4 MB inputs took over 30s: not linear")
	}
}

// TestParseUnboundedOutcomes checks that the long hostile inputs still get
// a decided outcome from the parser itself, not only from MaxLength.
func TestParseUnboundedOutcomes(t *testing.T) {
	big := strings.Repeat("x", 200<<10)
	test := func(name, in string, ok bool) {
		t.Helper()
		_, err := parse(in)
		if (err == nil) != ok {
			t.Errorf("%s: err = %v, want success %v", name, err, ok)
		}
	}
	test("long-comment", "from h ([192.0.2.1]) ("+big+") by x", true)
	test("long-garbage", big, false)
	test("long-unterminated", "from h ([192.0.2.1]) ("+big, false)
	test("nul-at-end", "from h ([192.0.2.1]) by x"+big+"\x00", false)
}
