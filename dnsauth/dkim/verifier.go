// Package dkim verifies DKIM signatures (RFC 6376; Ed25519 from RFC 8463;
// the algorithm and key-size rules of RFC 8301) of a message that arrives
// in pieces, and reads DKIM-Signature fields without verifying them
// (ParseSignature). The files follow the verifier's seams: verifier.go is
// the public face, header.go keeps the header block and picks the
// signatures, pipe.go streams the body to go-msgauth, outcome.go turns
// what go-msgauth says into results, signature.go parses the tags.
//
// The milter sees each header field, the empty line, then body chunks. A
// Verifier keeps the header block (bounded) and, at the empty line,
// looks at the DKIM-Signature fields. With none, the body is discarded as
// it comes. Otherwise go-msgauth's verifier starts in a goroutine, reading
// the header block and then a small bounded pipe that Write fills with the
// body. go-msgauth looks up every key as soon as it has the header block,
// before it reads any body, and hashes the body as a stream; so the DNS
// runs while the MTA is still sending, and the memory a session holds does
// not grow with the message: the header block (at most 1 MiB), the pipe
// (at most 256 KiB) and the hash states.
//
// What go-msgauth cannot bound by itself is capped here. Its body
// canonicalizers hold a run of empty lines until something follows it, so
// a body with more than 64 KiB of consecutive line breaks is not verified;
// its header hashing costs (signed names × header fields), so a signature
// with more than 256 names in h= or longer than 8 KiB, and a header block
// with more than 1000 fields, are not verified either; key records longer
// than 4 KiB are refused. Each such case is a decided result with a reason,
// never a stall.
package dkim

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	msgauth "github.com/emersion/go-msgauth/dkim"

	"github.com/spoofguard/spoofguard/dnsauth"
)

// Result is the outcome for one DKIM-Signature header (RFC 6376).
type Result struct {
	Result     dnsauth.Result // pass, fail, policy, neutral, temperror, permerror
	Domain     string         // d=
	Selector   string         // s=
	Identifier string         // i=, "@"+d when absent
	Algorithm  string         // a=
	Signature  string         // the start of b=, for header.b (RFC 6008)
	Reason     string         // why it did not pass; empty on pass
}

// Options tunes a Verifier.
type Options struct {
	// MaxSignatures is how many DKIM-Signature fields, counted from the
	// top, are verified (default 8, RFC 6376 §6.1 lets a verifier limit
	// them). The rest are reported as neutral, reason "not verified: more
	// than N signatures": they were neither checked nor found broken.
	MaxSignatures int
	// Now is the clock for x= expiry checks (nil means time.Now). go-msgauth
	// also checks x= against the system clock, which cannot be changed, so
	// a signature past its x= in real time stays expired whatever Now says.
	Now func() time.Time
}

// Limits that keep one session's memory and CPU flat whatever it is sent.
const (
	dkimDefaultMaxSignatures = 8
	dkimMaxHeaderBytes       = 1 << 20  // header block kept for verification
	dkimMaxHeaderFields      = 1000     // fields in that block
	dkimMaxSignatureField    = 8 << 10  // one DKIM-Signature value
	dkimMaxSignedFields      = 256      // names in one h=
	dkimMaxKeyRecord         = 4 << 10  // one key TXT record (RSA-16384 needs 2.8 KiB)
	dkimMaxBlankRun          = 64 << 10 // consecutive CR/LF bytes in the body
	dkimPipeSize             = 256 << 10
)

// The phases of a Verifier.
const (
	dkimInHeader = iota // collecting the header block
	dkimInBody          // feeding the body to go-msgauth
	dkimDiscard         // nothing (more) to verify: the rest is dropped
	dkimClosed          // Close or Abort was called
)

// Verifier verifies every DKIM-Signature of one message fed to it as
// raw bytes. Write, Close and Abort are meant for the session's goroutine;
// Abort may also come from another goroutine, and then unblocks a Write
// waiting for the verifier to catch up.
type Verifier struct {
	ctx    context.Context
	cancel context.CancelFunc
	dns    dnsauth.DNS
	opts   Options

	mu       sync.Mutex
	phase    int
	hdr      []byte // the header block, CRLF line ends, until it is handed over
	lineFrom int    // where the current header line starts in hdr
	lastCR   bool   // the previous body byte was CR
	blankRun int    // CR/LF bytes in the current run of blank space
	sigs     []*dkimSig
	pipe     *dkimPipe
	done     chan dkimOutcome // go-msgauth's answer, buffered
	verified []*dkimSig       // the signatures go-msgauth verifies, in order
	giveUp   *Result          // result for every verified signature whose body was not (fully) hashed
	results  []Result

	strictMu sync.Mutex
	strict   map[string]bool // key names whose record has t=s
}

// dkimSig is one DKIM-Signature field of the message.
type dkimSig struct {
	value  string // the field value, trimmed
	info   Signature
	at     int    // offset of the field name in the header block
	err    error  // from ParseSignature
	result Result // filled when decided
}

// dkimOutcome is what the verification goroutine hands back.
type dkimOutcome struct {
	verifs []*msgauth.Verification
	err    error
	panic  string
}

// NewVerifier starts the verification of one message. ctx bounds the
// key lookups and Close; dns resolves the keys.
func NewVerifier(ctx context.Context, dns dnsauth.DNS, opts Options) *Verifier {
	if opts.MaxSignatures <= 0 {
		opts.MaxSignatures = dkimDefaultMaxSignatures
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cctx, cancel := context.WithCancel(ctx)
	return &Verifier{ctx: cctx, cancel: cancel, dns: dns, opts: opts}
}

// Verify verifies a whole message at once. It is the streaming path fed
// from msg, so both give the same answers. The daemon and `spoofguard
// check` stream through the engine instead; Verify is kept as the
// whole-message entry point the conformance suites (one message file per
// case) and the DNS-fault tests drive the verifier through.
func Verify(ctx context.Context, dns dnsauth.DNS, msg io.Reader, opts Options) []Result {
	v := NewVerifier(ctx, dns, opts)
	if _, err := io.Copy(v, msg); err != nil {
		v.mu.Lock()
		v.abandon(Result{Result: dnsauth.TempError, Reason: "message could not be read: " + err.Error()})
		v.mu.Unlock()
	}
	return v.Close()
}

// Write takes the next bytes of the message: header fields as received
// ("Name: value" with their folding), the empty line, then the body. Bare
// LF line ends are turned into CRLF, on which DKIM canonicalization is
// defined. Write never fails; once verification cannot go on, it discards.
func (v *Verifier) Write(p []byte) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		switch v.phase {
		case dkimInHeader:
			p = v.writeHeader(p)
		case dkimInBody:
			v.writeBody(p)
			p = nil
		default:
			p = nil
		}
	}
	return n, nil
}

// Close ends the message and returns one result per DKIM-Signature field,
// in header order; none for an unsigned message. It waits for the key
// lookups and hashing, at most until the context given to
// NewVerifier ends. Later calls return the same results.
//
// The results (RFC 8601 §2.7.1): pass; fail when the body hash or the
// signature does not verify; policy for a signature that may be sound but
// is not accepted here (l=, or over the h= or size limits); neutral when
// it was not verified (past MaxSignatures, or a message-level limit);
// temperror when the key could not be had for now, or time ran out;
// permerror when it can never verify: no key, revoked key, bad or missing
// tags, rsa-sha1 or an RSA key under 1024 bits (RFC 8301), an unknown
// algorithm, an expired x=, a malformed or oversized key record.
func (v *Verifier) Close() []Result {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.phase == dkimClosed {
		return v.results
	}
	if v.phase == dkimInHeader {
		v.endHeaderAtClose()
	}
	v.phase = dkimClosed
	if v.pipe != nil {
		v.pipe.closeWrite()
		v.collect()
	}
	v.cancel()
	v.finish()
	return v.results
}

// Abort ends the verification now, because the session died: the
// goroutine stops reading and its lookups see a cancelled context, so it
// ends within moments, and the buffers are dropped. Close afterwards
// reports temperror for the signatures that were being verified.
func (v *Verifier) Abort() {
	v.cancel() // first, without the lock: it wakes a Write blocked on the pipe
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.phase == dkimClosed {
		return
	}
	if v.pipe != nil {
		v.pipe.abort()
	}
	for _, s := range v.verified {
		s.result = s.with(dnsauth.TempError, "verification aborted")
	}
	v.phase = dkimClosed
	v.finish()
}

// finish builds the results, in header order, and drops everything a
// finished verifier does not need.
func (v *Verifier) finish() {
	v.results = make([]Result, 0, len(v.sigs))
	for _, s := range v.sigs {
		v.results = append(v.results, s.result)
	}
	v.hdr = nil
	v.pipe = nil
	v.sigs = nil
	v.verified = nil
}

// abandon stops feeding the body: go-msgauth sees the end of the message
// and every verified signature whose outcome depends on the body gets res.
// The first reason to give up wins.
func (v *Verifier) abandon(res Result) {
	if v.giveUp == nil {
		v.giveUp = &res
	}
	switch v.phase {
	case dkimInHeader:
		// The signatures among the complete lines get res too.
		v.collectSignatures(v.hdr[:v.lineFrom])
		for _, s := range v.sigs {
			s.decide(res.Result, res.Reason)
		}
		v.hdr = nil
		v.phase = dkimDiscard
	case dkimInBody:
		v.pipe.abort()
		v.phase = dkimDiscard
	}
}

// writeBody feeds body bytes to go-msgauth, CRLF for every bare LF, and
// watches the runs of line breaks that its canonicalizers must hold back.
func (v *Verifier) writeBody(p []byte) {
	from := 0
	for i, c := range p {
		switch c {
		case '\n':
			if (i == 0 && !v.lastCR) || (i > 0 && p[i-1] != '\r') {
				v.pipe.write(p[from:i])
				v.pipe.write(dkimCRLF)
				from = i + 1
			}
			v.blankRun++
		case '\r':
			v.blankRun++
		case ' ', '\t':
			// blank space keeps a run of empty lines going (relaxed)
		default:
			v.blankRun = 0
		}
		if v.blankRun > dkimMaxBlankRun {
			v.abandon(Result{Result: dnsauth.Neutral,
				Reason: fmt.Sprintf("not verified: body has over %d bytes of consecutive line breaks", dkimMaxBlankRun)})
			return
		}
	}
	v.pipe.write(p[from:])
	v.lastCR = p[len(p)-1] == '\r'
}

var dkimCRLF = []byte("\r\n")
