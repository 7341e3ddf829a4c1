package authres

import (
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	test := func(value, wantID string, want ...Resinfo) {
		t.Helper()
		id, got := Parse(value)
		if id != wantID || !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%q) = %q %+v\nwant %q %+v", value, id, got, wantID, want)
		}
	}
	p := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	test("mx.filter.example.net; dkim=pass header.d=example.org header.s=sel; spf=pass smtp.mailfrom=bounce@saas.example",
		"mx.filter.example.net",
		Resinfo{"dkim", "pass", p("header.d", "example.org", "header.s", "sel")},
		Resinfo{"spf", "pass", p("smtp.mailfrom", "bounce@saas.example")})
	// Folded, a version after the id, comments everywhere, a version on
	// the method, upper case, a quoted reason.
	test(" mx.filter.example.net 1;\r\n\tDKIM/1=Pass (good signature) header.d=example.org;\r\n\tdmarc=fail (p=none) reason=\"no aligned identifier\" header.from=example.org",
		"mx.filter.example.net",
		Resinfo{"dkim", "pass", p("header.d", "example.org")},
		Resinfo{"dmarc", "fail", p("reason", "no aligned identifier", "header.from", "example.org")})
	// Microsoft's style: properties without a ptype, no space after ";".
	test("spam.example; spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=x.example;dkim=none (message not signed) header.d=none;compauth=pass reason=109",
		"spam.example",
		Resinfo{"spf", "pass", p("smtp.mailfrom", "x.example")},
		Resinfo{"dkim", "none", p("header.d", "none")},
		Resinfo{"compauth", "pass", p("reason", "109")})
	test("mx.example.net; none", "mx.example.net")
	test("", "")
	test("spf=pass smtp.mailfrom=example.org", "")
}

// TestParseHostileText: text a sender chose, inside a comment, a quoted
// reason or a quoted local part, never becomes a result of its own.
func TestParseHostileText(t *testing.T) {
	for _, value := range []string{
		`mx.filter.example.net; spf=fail smtp.mailfrom="a;dkim=pass header.d=example.org"@spam.example`,
		`mx.filter.example.net; spf=fail reason="x; dkim=pass header.d=example.org" smtp.mailfrom=spam.example`,
		`mx.filter.example.net; spf=fail (x; dkim=pass header.d=example.org) smtp.mailfrom=spam.example`,
		`mx.filter.example.net; spf=fail smtp.mailfrom=spam.example (unterminated; dkim=pass header.d=example.org`,
		`mx.filter.example.net; spf=fail reason="unterminated; dkim=pass header.d=example.org`,
	} {
		_, got := Parse(value)
		for _, r := range got {
			if r.Method == "dkim" || r.Props["header.d"] != "" {
				t.Errorf("Parse(%q) found %+v", value, r)
			}
		}
	}
	for _, value := range []string{
		"mx.example.net; dkim=pass header.d",
		"mx.example.net; dkim=pass header.d=",
		"mx.example.net; dkim=pass =example.org",
		"mx.example.net; dkim pass",
		"mx.example.net; =pass",
	} {
		if _, got := Parse(value); len(got) != 0 {
			t.Errorf("Parse(%q) = %+v, want no result", value, got)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("mx.example.net; dkim=pass (ok) header.d=example.org; spf=fail reason=\"a;b\" smtp.mailfrom=x@y")
	f.Fuzz(func(t *testing.T, value string) {
		id, results := Parse(value)
		if id == "" && len(results) > 0 {
			t.Fatalf("results without an id: %+v", results)
		}
		for _, r := range results {
			if r.Method == "" || !arIsToken(r.Result) {
				t.Fatalf("bad result %+v", r)
			}
		}
	})
}
