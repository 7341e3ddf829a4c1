package arc

import (
	"strings"
	"testing"
)

func TestParseAuthResults(t *testing.T) {
	for _, c := range []struct {
		in, id, results, err string
	}{
		{" mx.example.net; spf=pass smtp.mailfrom=a@example.org", "mx.example.net", "spf=pass (smtp.mailfrom=a@example.org)", ""},
		{" mx.example.net 1; none", "mx.example.net", "", ""},
		{` "mx example"; dkim=pass (2048-bit key; secure) header.d=Example.ORG header.i="@example.org" header.b=AbC+/=`,
			"mx example", "dkim=pass (header.d=Example.ORG header.i=@example.org)", ""},
		{" mx.example.net;\r\n\tspf=softfail (sender (nested) comment) smtp.mailfrom=example.org;\r\n\tdmarc=FAIL reason=\"p=reject; bad\" header.from=example.org",
			"mx.example.net", "spf=softfail (smtp.mailfrom=example.org) dmarc=fail ()", ""},
		{" mx.example.net; dkim/2=pass header.d=example.org", "mx.example.net", "dkim=pass (header.d=example.org)", ""},
		{" mx.example.net; spf=pass; dkim", "mx.example.net", "spf=pass ()", "bad methodspec"},
		{" mx.example.net; spf", "mx.example.net", "", "bad methodspec"},
		{" mx.example.net; spf=", "mx.example.net", "", "no result"},
		{" mx.example.net; spf=pass smtp.mailfrom", "mx.example.net", "", "bad property"},
		{" mx.example.net) spf=pass", "mx.example.net", "", "unexpected"},
		{"", "", "", "no authserv-id"},
		{" (only a comment", "", "", "no authserv-id"},
	} {
		id, rs, err := parseAuthResults(c.in)
		got := describeResults(rs)
		if id != c.id || got != c.results || (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("%q:\n got %q %q %v\nwant %q %q %s", c.in, id, got, err, c.id, c.results, c.err)
		}
	}
	_, rs, _ := parseAuthResults(` mx; dmarc=fail reason="p=reject; bad" policy.dmarc=reject`)
	if len(rs) != 1 || rs[0].Reason != "p=reject; bad" || rs[0].Prop("policy.dmarc") != "reject" {
		t.Errorf("%+v", rs)
	}
	_, rs, err := parseAuthResults(" mx" + strings.Repeat("; spf=pass", 100))
	if len(rs) != maxResinfos || err == nil {
		t.Errorf("%d results, %v", len(rs), err)
	}
}

func TestAARInstance(t *testing.T) {
	for in, want := range map[string]int{
		" i=1; mx; none": 1, "i = 50 ;mx": 50, "\r\n\ti=7;": 7,
		" i=0; mx": 0, " i=51; mx": 0, " i=01; mx": 0, " mx; i=1;": 0, " i=1 mx": 0, " i1; mx": 0, " x=1; i=1;": 0,
	} {
		got, _, err := aarInstance(in)
		if got != want || (err == nil) != (want > 0) {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
}

func TestParseTags(t *testing.T) {
	for in, want := range map[string]string{
		"a=1; b = 2 ;c=\r\n\t3;":  "a=1 b=2 c=3",
		"a=1;":                    "a=1",
		"a=x y":                   "a=x y",
		"":                        "",
		" ":                       "",
		"a=1;;b=2":                "error",
		";a=1":                    "error",
		"a=1; a=2":                "error",
		"1a=1":                    "error",
		"a_1=1":                   "a_1=1",
		"a":                       "error",
		"=1":                      "error",
		"a=\x01":                  "error",
		"a=caf\xc3\xa9; B=x; b=y": "a=caf\xc3\xa9 B=x b=y",
	} {
		tags, err := parseTags(in)
		var parts []string
		for _, tg := range tags {
			parts = append(parts, tg.name+"="+tg.value)
			if in[tg.from:tg.to] != tg.value {
				t.Errorf("%q: %s= at [%d:%d]", in, tg.name, tg.from, tg.to)
			}
		}
		got := strings.Join(parts, " ")
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("%q: got %q want %q", in, got, want)
		}
	}
}

// Any payload is read to an answer: the results are bounded, each with
// a lower-case method and a result.
func FuzzParseAuthResults(f *testing.F) {
	for _, s := range []string{
		" mx.example.net; spf=pass smtp.mailfrom=a@example.org; dkim=pass (c) header.d=example.org",
		` "id"; dmarc=fail reason="x; y" header.from=example.org`,
		" mx 1; none", " mx; a=b (((", ` mx; a="\`, " mx; dkim/1=pass header.b=ab+/=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		_, rs, _ := parseAuthResults(payload)
		if len(rs) > maxResinfos {
			t.Fatalf("%d results", len(rs))
		}
		for _, r := range rs {
			if r.Method == "" || r.Result == "" || r.Method != strings.ToLower(r.Method) {
				t.Errorf("%+v", r)
			}
		}
	})
}
