// Package arc validates the Authenticated Received Chain of a message
// (RFC 8617 §5.2): the ARC sets a filtering relay added, each an
// ARC-Authentication-Results (what the sealer saw), an
// ARC-Message-Signature (a DKIM-style signature over the message as it
// left the sealer) and an ARC-Seal (a signature over the ARC sets so
// far). A chain that passes, sealed by a relay the operator trusts, lets
// the results that relay recorded count although the relay has since
// changed the message; the decision to trust is the engine's, this
// package only says whether the chain holds and what it records.
//
// A Verifier is fed the message as the milter sees it: Header per field,
// then Body chunks, then Close. At the end of the header block it checks
// the chain's structure, computes every digest the seals and the newest
// message signature need, and starts the key lookups in a goroutine, so
// the DNS runs while the body arrives; the body is canonicalized and
// hashed as it streams, never held. Memory is bounded by the header
// block (at most 1 MiB, 1000 fields, which the MTA holds anyway) and a
// small hashing buffer; at most 50 ARC sets are considered
// (RFC 8617 §4.2.1).
//
// An ARC-Message-Signature is read as the DKIM-Signature it is in all but
// name, v= and i= (RFC 8617 §4.1.2), so RFC 6376's rules hold for it,
// where some sealers and verifiers are looser: no c= means simple/simple,
// h= must include From, and l= is refused (it lets anything be appended
// to a sealed body). rsa-sha1 and RSA keys under 1024 bits are refused
// (RFC 8301); Ed25519 (RFC 8463) is accepted. The optional oldest-pass
// search of §5.2 steps 5 and 6 is not done.
//
// The files follow the algorithm: chain.go collects the sets and checks
// their structure, signature.go and tags.go read ARC-Seal and
// ARC-Message-Signature, canon.go canonicalizes header fields and the
// body (RFC 6376 §3.4), key.go fetches and applies the keys, aar.go reads
// ARC-Authentication-Results.
package arc

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/spoofguard/spoofguard/dnsauth"
)

// MaxInstances is the most ARC sets a message may carry (RFC 8617 §4.2.1).
const MaxInstances = 50

// Limits on the header block a Verifier keeps.
const (
	maxHeaderBytes  = 1 << 20
	maxHeaderFields = 1000
)

// Result is the outcome of chain validation.
type Result struct {
	// CV is the chain validation status (RFC 8617 §4.4): none (no ARC
	// fields), pass, fail, or temperror when a key could not be fetched
	// for now and nothing else failed.
	CV dnsauth.Result
	// Reason says why CV is not pass; empty on pass and none.
	Reason string
	// Instance is the newest instance number N (0 when unknown).
	Instance int
	// Sealer is d= of the newest ARC-Seal, lower-cased ("" when unknown).
	Sealer string
	// Sets are the ARC sets 1..N, oldest first, when the chain's
	// structure is sound (whatever CV is): only trust them when CV is pass.
	Sets []Set
}

// Set is one ARC set as recorded in the message.
type Set struct {
	Instance   int
	Sealer     string // d= of the ARC-Seal, lower-cased
	Signer     string // d= of the ARC-Message-Signature, lower-cased ("" if unreadable)
	AuthservID string // of the ARC-Authentication-Results
	Results    []AuthResult
	// ResultsError is why the ARC-Authentication-Results could not be
	// read to its end; Results holds what came before.
	ResultsError string
}

// Newest returns the newest set (nil when there is none).
func (r *Result) Newest() *Set {
	if len(r.Sets) == 0 {
		return nil
	}
	return &r.Sets[len(r.Sets)-1]
}

// The phases of a Verifier.
const (
	phaseHeader = iota // collecting header fields
	phaseBody          // hashing the body for the newest AMS
	phaseIdle          // decided, or nothing to hash: the body is dropped
	phaseClosed
)

// Verifier validates the ARC chain of one message. Its methods are for
// the session's goroutine; Abort may also come from another.
type Verifier struct {
	ctx    context.Context
	cancel context.CancelFunc
	dns    dnsauth.DNS
	now    time.Time

	phase     int
	fields    []field
	size      int  // bytes of the header block so far
	arcFields int  // ARC fields among them (counted past the limits too)
	overflow  bool // the header block went over the limits

	result  Result // the chain's facts; CV set once decided
	decided bool
	body    *bodyCanon
	ams     *signature // the newest AMS, whose body hash is checked
	done    chan outcome
}

// NewVerifier starts the validation of one message. ctx bounds the key
// lookups and Close; now is the time x= expiry is checked against.
func NewVerifier(ctx context.Context, dns dnsauth.DNS, now time.Time) *Verifier {
	cctx, cancel := context.WithCancel(ctx)
	return &Verifier{ctx: cctx, cancel: cancel, dns: dns, now: now}
}

// Header takes one header field as the MTA passes it: the name and the
// value after the colon as written (its leading space and folding kept,
// line breaks CRLF or LF). Fields after the header block ended are
// ignored.
func (v *Verifier) Header(name, value string) {
	if v.phase != phaseHeader {
		return
	}
	if isARCName(name) {
		v.arcFields++
	}
	v.size += len(name) + len(value) + 3
	if v.overflow || v.size > maxHeaderBytes || len(v.fields) == maxHeaderFields {
		v.overflow = true
		v.fields = nil
		return
	}
	v.fields = append(v.fields, field{name: name, value: value})
}

// isARCName reports whether a field name is one of the three ARC fields.
func isARCName(name string) bool {
	if len(name) < 8 || name[3] != '-' || !equalFoldASCII(name[:3], "arc") {
		return false
	}
	return fieldKind(name) != kindOther
}

// EndOfHeaders ends the header block: the structure is checked and the
// key lookups start. Body and Close call it when it was not called.
func (v *Verifier) EndOfHeaders() {
	if v.phase != phaseHeader {
		return
	}
	v.phase = phaseIdle
	switch {
	case v.arcFields == 0:
		v.decide(dnsauth.None, "")
	case v.overflow:
		v.decide(dnsauth.Fail, fmt.Sprintf("not validated: header block over %d bytes or %d fields", maxHeaderBytes, maxHeaderFields))
	case v.arcFields > 3*MaxInstances:
		v.decide(dnsauth.Fail, fmt.Sprintf("more than %d ARC sets (RFC 8617 §5.2 step 1)", MaxInstances))
	default:
		v.start()
	}
	if v.decided {
		v.fields = nil
	}
}

// Body takes the next chunk of the body; it is not retained.
func (v *Verifier) Body(chunk []byte) {
	if v.phase == phaseHeader {
		v.EndOfHeaders()
	}
	if v.phase == phaseBody && len(chunk) > 0 {
		v.body.write(chunk)
	}
}

// Close ends the message and returns the chain's result, waiting for the
// key lookups at most until the context given to NewVerifier ends. Later
// calls return the same result.
func (v *Verifier) Close() Result {
	if v.phase == phaseHeader {
		v.EndOfHeaders()
	}
	if v.phase == phaseClosed {
		return v.result
	}
	v.phase = phaseClosed
	if !v.decided {
		v.finish()
	}
	v.cancel()
	v.fields, v.body, v.ams = nil, nil, nil
	return v.result
}

// Abort ends the validation because the session died: the lookups see a
// cancelled context. Close afterwards reports temperror unless the chain
// was already decided.
func (v *Verifier) Abort() { v.cancel() }

// decide settles the result.
func (v *Verifier) decide(cv dnsauth.Result, reason string) {
	v.result.CV, v.result.Reason, v.decided = cv, reason, true
}

// finish compares the body hash (RFC 6376 §6.1.3 checks it before the
// signature) and collects the signature checks.
func (v *Verifier) finish() {
	if !bytes.Equal(v.body.sum(), v.ams.bodyHash) {
		v.decide(dnsauth.Fail, fmt.Sprintf("ARC-Message-Signature i=%d: body hash did not verify", v.result.Instance))
		return // Close cancels the lookups
	}
	var out outcome
	select {
	case out = <-v.done:
	case <-v.ctx.Done():
		out = outcome{temp: "ARC validation did not finish in time"}
	}
	switch {
	case out.fail != "":
		v.decide(dnsauth.Fail, out.fail)
	case out.temp != "":
		v.decide(dnsauth.TempError, out.temp)
	default:
		v.decide(dnsauth.Pass, "")
	}
}
