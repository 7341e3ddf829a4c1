package dkim

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	msgauth "github.com/emersion/go-msgauth/dkim"

	"github.com/spoofguard/spoofguard/dnsauth"
)

// Running go-msgauth on the kept header and the piped body, and turning
// what it returns into results.

// run is the verification goroutine: go-msgauth reads the header block,
// looks up the keys, then hashes the body, all from the pipe. A panic
// inside it becomes a permerror, never a crashed daemon.
func (v *Verifier) run(pipe *dkimPipe, done chan<- dkimOutcome, n int) {
	var out dkimOutcome
	defer func() {
		if r := recover(); r != nil {
			out = dkimOutcome{panic: dkimClip(fmt.Sprint(r))}
		}
		pipe.closeRead() // later writes are dropped, never blocked
		done <- out
	}()
	// The pipe serves the header block itself and writes the body
	// straight out of its buffer (WriterTo), so go-msgauth's bufio.Reader
	// needs no 32 KiB copy buffer per message.
	out.verifs, out.err = msgauth.VerifyWithOptions(pipe, &msgauth.VerifyOptions{LookupTXT: v.lookupKey, MaxVerifications: n})
}

// lookupKey is go-msgauth's key lookup hook (it has no context: the
// verifier's is used). It refuses key records over dkimMaxKeyRecord and
// notes which keys carry the t=s flag. It runs in go-msgauth's own
// goroutines when there are several signatures, where no recover of ours
// reaches, so it catches a panic of the resolver itself.
func (v *Verifier) lookupKey(name string) (txts []string, err error) {
	defer func() {
		if r := recover(); r != nil {
			txts, err = nil, &net.DNSError{Name: name, Err: "key lookup failed: " + dkimClip(fmt.Sprint(r))}
		}
	}()
	txts, err = v.dns.LookupTXT(v.ctx, name)
	if err != nil {
		if _, ok := err.(*net.DNSError); !ok && v.ctx.Err() != nil {
			return nil, dnsauth.TemporaryError(name, "lookup abandoned: "+v.ctx.Err().Error(), true)
		}
		return nil, err
	}
	for _, t := range txts {
		if len(t) > dkimMaxKeyRecord {
			return nil, &net.DNSError{Name: name,
				Err: fmt.Sprintf("key record of %d bytes is over the %d-byte limit", len(t), dkimMaxKeyRecord)}
		}
	}
	if len(txts) == 1 && dkimStrictKey(txts[0]) {
		v.strictMu.Lock()
		if v.strict == nil {
			v.strict = map[string]bool{}
		}
		v.strict[strings.ToLower(name)] = true
		v.strictMu.Unlock()
	}
	return txts, nil
}

// dkimStrictKey reports whether a key record has the s flag in t=: the
// i= domain must then be d= itself, not a subdomain (RFC 6376 §3.6.1).
func dkimStrictKey(record string) bool {
	for flag := range strings.SplitSeq(dkimTag(record, "t"), ":") {
		if strings.TrimSpace(flag) == "s" {
			return true
		}
	}
	return false
}

// collect waits for go-msgauth's answer, at most until the context ends,
// and turns it into results.
func (v *Verifier) collect() {
	select {
	case out := <-v.done:
		v.apply(out)
		return
	default:
	}
	select {
	case out := <-v.done:
		v.apply(out)
	case <-v.ctx.Done():
		v.pipe.abort()
		for _, s := range v.verified {
			s.result = s.with(dnsauth.TempError, "verification did not finish: "+v.ctx.Err().Error())
		}
	}
}

// apply maps go-msgauth's verifications, one per verified signature in
// order, to results.
func (v *Verifier) apply(out dkimOutcome) {
	var whole string
	switch {
	case out.panic != "":
		whole = "verifier failed: " + out.panic
	case out.err != nil && !errors.Is(out.err, msgauth.ErrTooManySignatures):
		// Its verifications are not to be trusted then: go-msgauth clears
		// the error of the one that failed.
		whole = "header could not be verified: " + dkimReason(out.err)
	}
	for i, s := range v.verified {
		switch {
		case whole != "":
			s.result = s.with(dnsauth.PermError, whole)
		case i >= len(out.verifs) || out.verifs[i] == nil:
			s.result = s.with(dnsauth.PermError, "no verdict from the verifier")
		default:
			s.result = v.classify(s, out.verifs[i].Err)
		}
	}
}

// classify maps go-msgauth's verdict on one signature to a result (RFC
// 8601 §2.7.1), then applies the rules it does not know.
func (v *Verifier) classify(s *dkimSig, err error) Result {
	var res Result
	switch {
	case err == nil:
		res = s.with(dnsauth.Pass, "")
	case msgauth.IsTempFail(err):
		res = s.with(dnsauth.TempError, dkimReason(err))
	case msgauth.IsPermFail(err):
		res = s.with(dnsauth.PermError, dkimReason(err))
	case s.info.BodyLength:
		// go-msgauth refuses l= before hashing: the signature may be
		// sound, it is our policy not to accept a partly signed body.
		res = s.with(dnsauth.Policy, "l= (partly signed body) is not accepted")
	default:
		res = s.with(dnsauth.Fail, dkimReason(err))
	}
	switch {
	case s.err != nil:
		// It could never pass: say why, and say it is permanent even when
		// go-msgauth stopped earlier at a DNS failure. RFC 6376 §6.1.1
		// checks the signature field before fetching the key.
		res = s.with(dnsauth.PermError, s.err.Error())
	case !s.info.Expires.IsZero() && v.opts.Now().After(s.info.Expires):
		res = s.with(dnsauth.PermError, "signature expired at "+s.info.Expires.UTC().Format(time.RFC3339))
	case res.Result == dnsauth.Pass && v.strictKeyViolated(s):
		res = s.with(dnsauth.PermError, "key has t=s but i= is in a subdomain of d= (RFC 6376 §3.6.1)")
	}
	if v.giveUp != nil && (res.Result == dnsauth.Pass || res.Result == dnsauth.Fail) {
		res = s.with(v.giveUp.Result, v.giveUp.Reason)
	}
	return res
}

// strictKeyViolated applies the key flag t=s, which go-msgauth ignores.
func (v *Verifier) strictKeyViolated(s *dkimSig) bool {
	v.strictMu.Lock()
	strict := v.strict[strings.ToLower(s.info.Selector+"._domainkey."+s.info.Domain)]
	v.strictMu.Unlock()
	if !strict || s.info.Identifier == "" {
		return false
	}
	at := strings.LastIndexByte(s.info.Identifier, '@')
	return !strings.EqualFold(s.info.Identifier[at+1:], s.info.Domain)
}

// dkimReason is go-msgauth's error text without its "dkim: " prefixes.
func dkimReason(err error) string {
	r := err.Error()
	for strings.HasPrefix(r, "dkim: ") {
		r = r[len("dkim: "):]
	}
	return strings.ReplaceAll(r, "dkim: ", "")
}
