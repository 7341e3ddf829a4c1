package arc

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"strings"

	"github.com/spoofguard/spoofguard/dnsauth"
)

// The three ARC header fields (RFC 8617 §4.1).
const (
	kindOther = iota
	kindAAR
	kindAMS
	kindAS
)

var kindNames = [...]string{kindAAR: "ARC-Authentication-Results", kindAMS: "ARC-Message-Signature", kindAS: "ARC-Seal"}

// fieldKind tells which ARC field a name is, without regard to case.
func fieldKind(name string) int {
	name = trimName(name)
	for k := kindAAR; k <= kindAS; k++ {
		if equalFoldASCII(name, kindNames[k]) {
			return k
		}
	}
	return kindOther
}

// trimName drops white space before the colon ("ARC-Seal :", obsolete
// syntax of RFC 5322 §4.5), as relaxed canonicalization does.
func trimName(name string) string { return strings.TrimRight(name, " \t") }

// equalFoldASCII compares field names without regard to ASCII case
// only: unlike strings.EqualFold, "ARC-\u017feal" is not "ARC-Seal", as
// no MTA would take it for one.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x != y && (x|0x20 != y|0x20 || x|0x20 < 'a' || x|0x20 > 'z') {
			return false
		}
	}
	return true
}

// arcSet is one instance's three fields, as indexes into the header
// block, with what was read from them.
type arcSet struct {
	at      [kindAS + 1]int // field index + 1 per kind; 0 when absent
	payload string          // the AAR after "i=N;"
	seal    *signature      // the ARC-Seal, parsed
}

// start runs steps 1 to 3 of RFC 8617 §5.2 on the header block, then
// prepares steps 4 and 7: the body hash of the newest AMS, and every
// digest, handed with the keys to fetch to a goroutine.
func (v *Verifier) start() {
	sets, n, err := v.collect()
	if err == nil {
		err = checkStructure(sets, n)
	}
	v.result.Instance = n
	if n > 0 && sets[n].seal != nil {
		v.result.Sealer = strings.ToLower(sets[n].seal.domain)
	}
	if err != nil {
		v.decide(dnsauth.Fail, err.Error())
		return
	}
	v.result.Sets = v.describe(sets, n)
	checks, err := v.prepare(sets, n)
	if err != nil {
		v.decide(dnsauth.Fail, err.Error())
		return
	}
	v.done = make(chan outcome, 1)
	go v.run(checks, v.done)
	v.phase = phaseBody
}

// collect sorts the ARC fields into sets by instance (step 1) and
// returns the sets and N, the highest instance. A field whose instance
// cannot be read, or a second field of a kind for one instance, breaks
// the chain.
func (v *Verifier) collect() ([]arcSet, int, error) {
	sets := make([]arcSet, MaxInstances+1)
	n := 0
	for i, f := range v.fields {
		kind := fieldKind(f.name)
		if kind == kindOther {
			continue
		}
		inst, err := v.read(kind, f.value, sets)
		if err != nil {
			return sets, n, fmt.Errorf("malformed %s: %v", kindNames[kind], err)
		}
		if sets[inst].at[kind] != 0 {
			return sets, max(n, inst), fmt.Errorf("more than one %s for i=%d (RFC 8617 §5.2 step 3)", kindNames[kind], inst)
		}
		sets[inst].at[kind] = i + 1
		n = max(n, inst)
	}
	return sets, n, nil
}

// read finds the instance of one ARC field, keeping the AAR's payload
// and the parsed seal in its set.
func (v *Verifier) read(kind int, value string, sets []arcSet) (int, error) {
	switch kind {
	case kindAAR:
		inst, payload, err := aarInstance(value)
		if err == nil && sets[inst].at[kindAAR] == 0 {
			sets[inst].payload = payload
		}
		return inst, err
	case kindAMS:
		return instanceOf(value)
	}
	seal, err := parseAS(value)
	if err != nil {
		return 0, err
	}
	if sets[seal.instance].at[kindAS] == 0 {
		sets[seal.instance].seal = seal
	}
	return seal.instance, nil
}

// checkStructure is steps 2 and 3 of RFC 8617 §5.2: the newest seal
// does not say cv=fail, every instance 1..N has its three fields, the
// first seal says cv=none and every later one cv=pass.
func checkStructure(sets []arcSet, n int) error {
	if n == 0 {
		return errors.New("no ARC set")
	}
	if sets[n].seal != nil && sets[n].seal.cv == "fail" {
		return fmt.Errorf("ARC-Seal i=%d records cv=fail (RFC 8617 §5.2 step 2)", n)
	}
	for i := 1; i <= n; i++ {
		for kind := kindAAR; kind <= kindAS; kind++ {
			if sets[i].at[kind] == 0 {
				return fmt.Errorf("no %s for i=%d (RFC 8617 §5.2 step 3)", kindNames[kind], i)
			}
		}
		want := "pass"
		if i == 1 {
			want = "none"
		}
		if cv := sets[i].seal.cv; cv != want {
			return fmt.Errorf("ARC-Seal i=%d has cv=%s, not %s (RFC 8617 §5.2 step 3)", i, cv, want)
		}
	}
	return nil
}

// describe reports the sets for the result; the AARs are parsed here.
func (v *Verifier) describe(sets []arcSet, n int) []Set {
	out := make([]Set, n)
	for i := 1; i <= n; i++ {
		s := &out[i-1]
		s.Instance = i
		s.Sealer = strings.ToLower(sets[i].seal.domain)
		s.Signer = strings.ToLower(tagValue(v.fields[sets[i].at[kindAMS]-1].value, "d"))
		var err error
		s.AuthservID, s.Results, err = parseAuthResults(sets[i].payload)
		if err != nil {
			s.ResultsError = err.Error()
		}
	}
	return out
}

// tagValue is one tag of a well-formed tag list ("" if absent).
func tagValue(list, name string) string {
	tags, _ := parseTags(list)
	for _, t := range tags {
		if t.name == name {
			return t.value
		}
	}
	return ""
}

// check is one signature to verify once its key is known.
type check struct {
	what   string
	sig    *signature
	digest []byte
}

// prepare reads the newest AMS (step 4), starts hashing the body for it,
// and computes the digests: the AMS's, then each seal's from N down to 1
// (step 7), in the order they are checked.
func (v *Verifier) prepare(sets []arcSet, n int) ([]check, error) {
	amsAt := sets[n].at[kindAMS] - 1
	ams, err := parseAMS(v.fields[amsAt].value)
	if err != nil {
		return nil, fmt.Errorf("ARC-Message-Signature i=%d: %v", n, err)
	}
	if !ams.expires.IsZero() && v.now.After(ams.expires) {
		return nil, fmt.Errorf("ARC-Message-Signature i=%d expired (x=)", n)
	}
	v.ams = ams
	v.body = &bodyCanon{h: sha256.New(), simple: ams.bodySimple}
	checks := []check{{what: fmt.Sprintf("ARC-Message-Signature i=%d", n), sig: ams, digest: v.amsDigest(ams, amsAt)}}
	digests := v.sealDigests(sets, n)
	for i := n; i >= 1; i-- {
		checks = append(checks, check{what: fmt.Sprintf("ARC-Seal i=%d", i), sig: sets[i].seal, digest: digests[i]})
	}
	return checks, nil
}

// amsDigest hashes the fields h= names, each picked from the bottom up
// (RFC 6376 §5.4.2), then the AMS itself without b= and its CRLF.
func (v *Verifier) amsDigest(ams *signature, self int) []byte {
	h := sha256.New()
	used := make(map[string]int, len(ams.headers)) // name -> index of the last field taken
	var b []byte
	for _, name := range ams.headers {
		from, ok := used[name]
		if !ok {
			from = len(v.fields)
		}
		i := from - 1
		for ; i >= 0; i-- {
			if i != self && equalFoldASCII(trimName(v.fields[i].name), name) {
				break
			}
		}
		used[name] = i
		if i < 0 || name == "" {
			continue
		}
		b = appendCanon(b[:0], ams.headerSimple, v.fields[i].name, v.fields[i].value)
		h.Write(append(b, '\r', '\n'))
	}
	f := v.fields[self]
	h.Write(appendCanon(b[:0], ams.headerSimple, f.name, ams.withoutB(f.value)))
	return h.Sum(nil)
}

// sealDigests computes what each ARC-Seal signs (RFC 8617 §5.1.1): the
// sets 1..i in order, AAR, AMS, AS, relaxed, the seal of i without b= and
// its CRLF. Set i's data begins with set i-1's, so one running hash,
// cloned at each seal, does it in one pass.
func (v *Verifier) sealDigests(sets []arcSet, n int) [][]byte {
	out := make([][]byte, n+1)
	h := sha256.New()
	var b []byte
	for i := 1; i <= n; i++ {
		for _, kind := range [...]int{kindAAR, kindAMS} {
			f := v.fields[sets[i].at[kind]-1]
			b = appendRelaxed(b[:0], f.name, f.value)
			h.Write(append(b, '\r', '\n'))
		}
		f := v.fields[sets[i].at[kindAS]-1]
		own, _ := h.(hash.Cloner).Clone()
		own.Write(appendRelaxed(b[:0], f.name, sets[i].seal.withoutB(f.value)))
		out[i] = own.Sum(nil)
		b = appendRelaxed(b[:0], f.name, f.value)
		h.Write(append(b, '\r', '\n'))
	}
	return out
}

// outcome is what the goroutine found: the first signature that failed
// for good, else the first that could not be checked for now.
type outcome struct {
	fail, temp string
}

// run fetches the keys and verifies the signatures in order, stopping at
// the first that fails for good; a key that cannot be had for now is
// noted and the rest still checked, since a later failure decides.
func (v *Verifier) run(checks []check, done chan<- outcome) {
	var out outcome
	defer func() {
		if p := recover(); p != nil {
			out = outcome{temp: fmt.Sprintf("ARC validation failed internally: %v", p)}
		}
		done <- out
	}()
	keys := make(map[string]*pubKey)
	errs := make(map[string]error)
	for _, c := range checks {
		name := c.sig.selector + "._domainkey." + c.sig.domain
		k, seen := keys[name]
		if !seen && errs[name] == nil {
			k, errs[name] = lookupKey(v.ctx, v.dns, c.sig.selector, c.sig.domain)
			keys[name] = k
		}
		if err := errs[name]; err != nil {
			var temp *tempError
			if !errors.As(err, &temp) {
				out.fail = c.what + ": " + err.Error()
				return
			}
			if out.temp == "" {
				out.temp = c.what + ": " + err.Error()
			}
			continue
		}
		if err := k.verify(c.sig.algorithm, c.digest, c.sig.sig); err != nil {
			out.fail = c.what + ": " + err.Error()
			return
		}
	}
}
