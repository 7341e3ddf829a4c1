package arc

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"gopkg.in/yaml.v3"

	"github.com/spoofguard/spoofguard/dnsauth"
	"github.com/spoofguard/spoofguard/dnsauth/dnstest"
)

// The ValiMail ARC test suite (../shared/testdata/arc-valimail, see its
// PROVENANCE.md): YAML documents, each a scenario of tests with the TXT
// records they need. It was written against the ARC drafts; where a test
// expects what RFC 8617 does not, suiteDeviations says which section
// decides and the test is held to the RFC's answer.

// suiteCase is one validation test.
type suiteCase struct {
	name, spec, description, message, cv string
}

// suiteScenario is one YAML document of the suite.
type suiteScenario struct {
	description string
	cases       []suiteCase
	txt         map[string]string
}

// suiteDeviation is the RFC's answer for a test the suite answers
// otherwise, and why.
type suiteDeviation struct {
	cv     dnsauth.Result
	reason string // in the Reason the verifier gives
	why    string
}

var suiteDeviations = map[string]suiteDeviation{
	// The suite leaves cv empty for chains whose seals record cv=fail
	// (the drafts had a sealer stop there); a validator's answer is fail.
	"cv_fail_i1_as_cv_fail": {dnsauth.Fail, "records cv=fail", "RFC 8617 §5.2 step 2: the newest ARC-Seal says cv=fail, so the chain fails"},
	"cv_fail_i2_as2_fail":   {dnsauth.Fail, "records cv=fail", "RFC 8617 §5.2 step 2: the newest ARC-Seal says cv=fail, so the chain fails"},
	"cv_fail_i2_as1_fail":   {dnsauth.Fail, "i=1 has cv=fail", "RFC 8617 §5.2 step 3: the ARC-Seal of i=1 must say cv=none"},
	// An AMS is a DKIM-Signature in all but name, v= and i=
	// (RFC 8617 §4.1.2), so RFC 6376 §6.1.1 applies: a signature whose
	// h= lacks From is ignored; here h= is empty, which its §3.5 grammar
	// does not allow either. A seal over unsigned From would let anyone
	// replay the chain under another author.
	"ams_fields_h_empty": {dnsauth.Fail, "empty h=", "RFC 8617 §4.1.2 with RFC 6376 §6.1.1: h= must include From"},
	// Without c= the suite's signer canonicalized the header relaxed;
	// RFC 6376 §3.5 (which RFC 8617 §4.1.2 inherits) makes the default
	// simple/simple, under which the signature does not verify. The test
	// with the default applied is TestCanonDefaultSimple.
	"ams_fields_c_na": {dnsauth.Fail, "i=1: signature did not verify", "RFC 8617 §4.1.2 with RFC 6376 §3.5: no c= means simple/simple"},
}

// suiteReasons pins the reason of the tests whose fail could come from
// an earlier, unrelated check: each must fail for the rule it is about.
var suiteReasons = map[string]string{
	"cv_fail_i1_as_pass":       "cv=pass, not none",
	"cv_fail_i2_as2_none":      "cv=none, not pass",
	"cv_fail_i2_as2_invalid":   "ARC-Seal i=2: signature did not verify",
	"ams_format_tags_sc":       "stray ';'",
	"ams_format_tags_dup":      "duplicate tag",
	"ams_format_tags_wsp":      "invalid t=1 2345",
	"ams_fields_a_sha1":        "RFC 8301 §3.1",
	"ams_fields_c_empty":       "invalid c=",
	"ams_fields_d_invalid":     "invalid d=",
	"ams_fields_h_includes_as": "includes ARC-Seal",
	"ams_fields_bh_mod_body":   "body hash did not verify",
	"as_fields_h_present":      "h= is not allowed",
	"as_fields_b_512":          "512 bits",
	"as_fields_b_ams1":         "ARC-Seal i=1: signature did not verify",
	"as_fields_cv_invalid":     "invalid cv=",
	"public_key_na":            "no key at na._domainkey.example.org",
	"public_key_invalid":       "key at invalid._domainkey.example.org",
}

// loadSuite reads a suite file through yaml.Node, which keeps the
// repeated test names one scenario has (a map would drop them).
func loadSuite(t testing.TB, file string) []suiteScenario {
	t.Helper()
	f, err := os.Open(dnstest.SharedTestdata(t, "arc-valimail", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []suiteScenario
	dec := yaml.NewDecoder(f)
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			if err.Error() == "EOF" {
				return out
			}
			t.Fatalf("%s: %v", file, err)
		}
		if len(doc.Content) == 1 {
			out = append(out, readScenario(t, doc.Content[0]))
		}
	}
}

// readScenario reads one document: description, tests, txt-records.
func readScenario(t testing.TB, doc *yaml.Node) suiteScenario {
	t.Helper()
	var s suiteScenario
	for k, v := range mappingPairs(doc) {
		switch k {
		case "description":
			s.description = v.Value
		case "txt-records":
			if err := v.Decode(&s.txt); err != nil {
				t.Fatal(err)
			}
		case "tests":
			for name, body := range mappingPairs(v) {
				f := caseFields(body)
				s.cases = append(s.cases, suiteCase{name: name, spec: f["spec"], description: f["description"],
					message: f["message"], cv: strings.TrimSpace(f["cv"])})
			}
		}
	}
	return s
}

// caseFields is one test's scalar fields by name.
func caseFields(body *yaml.Node) map[string]string {
	m := map[string]string{}
	for field, val := range mappingPairs(body) {
		m[field] = val.Value
	}
	return m
}

// mappingPairs yields the key/value pairs of a YAML mapping in order,
// repeated keys included.
func mappingPairs(n *yaml.Node) func(func(string, *yaml.Node) bool) {
	return func(yield func(string, *yaml.Node) bool) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if !yield(n.Content[i].Value, n.Content[i+1]) {
				return
			}
		}
	}
}

// suiteServer serves a scenario's TXT records from the in-process DNS
// server, long ones in 255-byte strings as on the wire.
func suiteServer(t testing.TB, txt map[string]string) dnsauth.DNS {
	t.Helper()
	srv := dnstest.New(t, "")
	for owner, rdata := range txt {
		rr := &dns.TXT{Hdr: dns.RR_Header{Name: dns.Fqdn(owner), Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300}}
		for chunk := range slices.Chunk([]byte(rdata), 255) {
			rr.Txt = append(rr.Txt, string(chunk))
		}
		srv.AddRR(rr)
	}
	r, err := dnsauth.NewResolver(dnsauth.ResolverConfig{Servers: []string{srv.Addr}, Timeout: time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// suiteWant is the status a suite test expects, the deviation (if any)
// applied.
func suiteWant(t *testing.T, c suiteCase) dnsauth.Result {
	if d, ok := suiteDeviations[c.name]; ok {
		t.Logf("suite expects %q; RFC answer %s: %s", c.cv, d.cv, d.why)
		return d.cv
	}
	switch strings.ToLower(c.cv) {
	case "none":
		return dnsauth.None
	case "pass":
		return dnsauth.Pass
	case "fail":
		return dnsauth.Fail
	}
	t.Fatalf("suite expects cv %q, which no deviation explains", c.cv)
	return ""
}

// crlf turns the suite's LF line ends into the CRLF of the wire.
func toCRLF(s string) []byte {
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}

// Every validation test of the suite, each deviation held to the RFC.
func TestValiMailValidation(t *testing.T) {
	scenarios := loadSuite(t, "arc-draft-validation-tests.yml")
	ran, deviations := 0, 0
	for _, sc := range scenarios {
		r := suiteServer(t, sc.txt)
		for _, c := range sc.cases {
			ran++
			if _, ok := suiteDeviations[c.name]; ok {
				deviations++
			}
			t.Run(c.name, func(t *testing.T) {
				want := suiteWant(t, c)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				got := Verify(ctx, r, toCRLF(c.message), time.Now())
				if got.CV != want {
					t.Errorf("%s (%s): cv=%s (%s), want %s", c.description, c.spec, got.CV, got.Reason, want)
				}
				if d, ok := suiteDeviations[c.name]; ok && !strings.Contains(got.Reason, d.reason) {
					t.Errorf("reason %q, want the RFC's: %q", got.Reason, d.reason)
				}
				if want, ok := suiteReasons[c.name]; ok && !strings.Contains(got.Reason, want) {
					t.Errorf("reason %q, want one with %q", got.Reason, want)
				}
			})
		}
	}
	// 175 entries: 171 names, four of them twice in one scenario.
	if ran != 175 || deviations != len(suiteDeviations) {
		t.Fatalf("ran %d tests (%d deviations of %d listed); the suite has 175", ran, deviations, len(suiteDeviations))
	}
	t.Logf("%d validation tests in %d scenarios, %d held to RFC 8617 instead of the suite", ran, len(scenarios), deviations)
}

// signCase is one test of the suite's signing file: an input message and
// the ARC set a sealer is expected to add to it.
type signCase struct {
	name, message, as, ams, aar string
}

// readSignCases reads the tests of one signing scenario.
func readSignCases(doc *yaml.Node) []signCase {
	var out []signCase
	for k, v := range mappingPairs(doc) {
		if k != "tests" {
			continue
		}
		for name, body := range mappingPairs(v) {
			f := caseFields(body)
			out = append(out, signCase{name: name, message: f["message"], as: f["AS"], ams: f["AMS"], aar: f["AAR"]})
		}
	}
	return out
}

// fold writes a field value from the suite's unindented lines as folded
// header text.
func fold(v string) string {
	return " " + strings.ReplaceAll(strings.TrimRight(v, "\n"), "\n", "\r\n ")
}

// The expected outputs of the suite's signing tests, added to their
// messages. Their ARC-Message-Signatures verify, body hash and all. Their
// ARC-Seals do not: the seals of the validation file verify over the data
// RFC 8617 §5.1.1 defines (each set's AAR, AMS and AS in order, relaxed,
// the new seal without b=), these do not under any folding of the
// suite's unindented lines (dkimpy 1.1.4's arc_verify, given the same
// input, also fails each at the new seal); they come from a draft-era
// sealer. So each
// output with a new seal is held to exactly that: the chain fails at
// the new ARC-Seal and nowhere before it (structure, AMS, body hash). An
// output whose seal records cv=fail fails at RFC 8617 §5.2 step 2; where
// the suite expects no new set because the incoming chain fails, the
// incoming chain is checked to fail.
func TestValiMailSignOutputs(t *testing.T) {
	f, err := os.Open(dnstest.SharedTestdata(t, "arc-valimail", "arc-draft-sign-tests.yml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	n := 0
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			break
		}
		sc := readScenario(t, doc.Content[0])
		r := suiteServer(t, sc.txt)
		for _, c := range readSignCases(doc.Content[0]) {
			n++
			t.Run(c.name, func(t *testing.T) { checkSignOutput(t, r, c) })
		}
	}
	if n != 17 {
		t.Fatalf("ran %d signing tests, the suite has 17", n)
	}
}

// checkSignOutput validates one signing test's expected output.
func checkSignOutput(t *testing.T, r dnsauth.DNS, c signCase) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msg := toCRLF(c.message)
	var want string
	switch {
	case strings.TrimSpace(c.as) == "":
		want = "(RFC 8617 §5.2 step 2)" // the incoming chain's newest seal says cv=fail
	case strings.Contains(c.as, "cv=fail"):
		want = "records cv=fail (RFC 8617 §5.2 step 2)"
	default:
		inst, err := instanceOf(strings.ReplaceAll(c.as, "\n", " "))
		if err != nil {
			t.Fatal(err)
		}
		want = fmt.Sprintf("ARC-Seal i=%d: signature did not verify", inst)
	}
	if strings.TrimSpace(c.as) != "" {
		set := "ARC-Seal:" + fold(c.as) + "\r\nARC-Message-Signature:" + fold(c.ams) +
			"\r\nARC-Authentication-Results:" + fold(c.aar) + "\r\n"
		msg = append([]byte(set), msg...)
	}
	got := Verify(ctx, r, msg, time.Now())
	if got.CV != dnsauth.Fail || !strings.HasSuffix(got.Reason, want) {
		t.Errorf("cv=%s (%s), want fail ending in %q", got.CV, got.Reason, want)
	}
}
