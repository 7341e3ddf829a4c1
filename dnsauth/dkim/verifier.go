package dkim

// DKIM verification (RFC 6376; Ed25519 from RFC 8463; the algorithm and
// key-size rules of RFC 8301) for a message that arrives in pieces.
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

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

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

// Verify verifies a whole message at once (spoofguard check). It is
// the streaming path fed from msg, so both give the same answers.
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

// writeHeader adds header bytes line by line and returns what follows the
// empty line that ends the header block, once it has come.
func (v *Verifier) writeHeader(p []byte) []byte {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			v.appendHeader(p, false)
			return nil
		}
		if !v.appendHeader(p[:i], true) {
			return nil
		}
		p = p[i+1:]
		if len(v.hdr)-v.lineFrom == 2 { // the line was empty: end of header
			v.endHeader()
			return p
		}
		v.lineFrom = len(v.hdr)
	}
	return nil
}

// appendHeader adds part of a line and, with eol, its end: CRLF whether
// the LF came with its CR or bare. Past dkimMaxHeaderBytes it gives up on
// the message and returns false.
func (v *Verifier) appendHeader(part []byte, eol bool) bool {
	if len(v.hdr)+len(part)+2 > dkimMaxHeaderBytes {
		v.headerTooLarge()
		return false
	}
	v.hdr = append(v.hdr, part...)
	if eol {
		if !bytes.HasSuffix(v.hdr[v.lineFrom:], []byte{'\r'}) {
			v.hdr = append(v.hdr, '\r')
		}
		v.hdr = append(v.hdr, '\n')
	}
	return true
}

// endHeaderAtClose ends a message that stopped inside its header: a
// message without a body needs no empty line (RFC 5322 §2.1).
func (v *Verifier) endHeaderAtClose() {
	if v.lineFrom < len(v.hdr) && !v.appendHeader(nil, true) {
		return
	}
	v.hdr = append(v.hdr, '\r', '\n')
	v.endHeader()
}

// headerTooLarge gives up on a header block over dkimMaxHeaderBytes: the
// signatures among its complete lines are reported, none verified.
func (v *Verifier) headerTooLarge() {
	v.collectSignatures(v.hdr[:v.lineFrom])
	for _, s := range v.sigs {
		s.decide(dnsauth.Neutral, fmt.Sprintf("not verified: header block over %d bytes", dkimMaxHeaderBytes))
	}
	v.hdr = nil
	v.phase = dkimDiscard
}

// endHeader looks at the signatures of the complete header block and, if
// any is to be verified, starts go-msgauth on it.
func (v *Verifier) endHeader() {
	fields := v.collectSignatures(v.hdr)
	verified := v.choose(fields > dkimMaxHeaderFields)
	if len(verified) == 0 {
		v.hdr = nil
		v.phase = dkimDiscard
		return
	}
	v.verified = verified
	v.pipe = dkimNewPipe(v.ctx, v.hdr) // go-msgauth owns the header block now
	v.hdr = nil
	v.done = make(chan dkimOutcome, 1)
	v.phase = dkimInBody
	go v.run(v.pipe, v.done, len(verified))
}

// collectSignatures finds the DKIM-Signature fields of block the way
// go-msgauth does (same field split, same name match) and returns how many
// fields the block has.
func (v *Verifier) collectSignatures(block []byte) int {
	return dkimScanFields(block, func(start int, field []byte) {
		name, value, _ := bytes.Cut(field, []byte{':'})
		if !strings.EqualFold(string(bytes.TrimSpace(name)), "DKIM-Signature") {
			return
		}
		s := &dkimSig{value: string(bytes.TrimSpace(value))}
		s.at = start + len(name) - len(bytes.TrimLeftFunc(name, unicode.IsSpace))
		s.info, s.err = ParseSignature(s.value)
		s.result = Result{
			Domain:     s.info.Domain,
			Selector:   s.info.Selector,
			Identifier: s.info.Identifier,
			Algorithm:  s.info.Algorithm,
			Signature:  s.info.Signature,
		}
		if s.result.Identifier == "" && s.info.Domain != "" {
			s.result.Identifier = "@" + s.info.Domain
		}
		v.sigs = append(v.sigs, s)
	})
}

// choose decides the signatures that will not be verified and returns the
// others. A signature too costly to verify is hidden from go-msgauth by
// renaming its field in the block (the first letter of its name becomes
// X), which changes nothing for the others unless one of them signs
// DKIM-Signature fields.
func (v *Verifier) choose(tooManyFields bool) []*dkimSig {
	dkimDistinctPrefixes(v.sigs)
	max := v.opts.MaxSignatures
	var verified []*dkimSig
	for i, s := range v.sigs {
		switch {
		case i >= max:
			s.decide(dnsauth.Neutral, fmt.Sprintf("not verified: more than %d signatures", max))
		case tooManyFields:
			s.decide(dnsauth.Neutral, fmt.Sprintf("not verified: header has more than %d fields", dkimMaxHeaderFields))
		case len(s.value) > dkimMaxSignatureField:
			s.decide(dnsauth.Policy, fmt.Sprintf("signature field over %d bytes", dkimMaxSignatureField))
			v.hdr[s.at] = 'X'
		case len(s.info.Headers) > dkimMaxSignedFields:
			s.decide(dnsauth.Policy, fmt.Sprintf("h= signs over %d header fields", dkimMaxSignedFields))
			v.hdr[s.at] = 'X'
		default:
			verified = append(verified, s)
		}
	}
	return verified
}

// dkimScanFields calls fn for each field of a header block (CRLF lines,
// ending at an empty line or the end): where the field starts and its
// text, continuation lines and CRLFs included. It returns the field count.
// Like go-msgauth, a line starting with SP or HTAB continues the field
// before it, if there is one.
func dkimScanFields(block []byte, fn func(start int, field []byte)) int {
	count, start, pos := 0, -1, 0
	for pos < len(block) {
		end := len(block)
		if i := bytes.IndexByte(block[pos:], '\n'); i >= 0 {
			end = pos + i + 1
		}
		line := block[pos:end]
		if string(line) == "\r\n" {
			break
		}
		if start < 0 || (line[0] != ' ' && line[0] != '\t') {
			if start >= 0 {
				fn(start, block[start:pos])
				count++
			}
			start = pos
		}
		pos = end
	}
	if start >= 0 {
		fn(start, block[start:pos])
		count++
	}
	return count
}

// dkimDistinctPrefixes lengthens header.b where two different signatures
// share their first characters, so each names its own (RFC 6008 §2).
func dkimDistinctPrefixes(sigs []*dkimSig) {
	groups := map[string][]*dkimSig{}
	for _, s := range sigs {
		if p := s.result.Signature; p != "" {
			groups[p] = append(groups[p], s)
		}
	}
	for _, group := range groups {
		if len(group) < 2 {
			continue
		}
		full := make([]string, len(group))
		for i, s := range group {
			full[i] = dkimStripSpace(dkimTag(s.value, "b"))
		}
		for i, s := range group {
			for j := range group {
				if full[i] == full[j] {
					continue
				}
				n := min(len(full[i]), dkimCommonPrefix(full[i], full[j])+1)
				if n > len(s.result.Signature) {
					s.result.Signature = full[i][:n]
				}
			}
		}
	}
}

// dkimCommonPrefix is the length of the longest common prefix of a and b.
func dkimCommonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// dkimTag returns the raw value of one tag of a tag list ("" if absent).
func dkimTag(list, tag string) string {
	for spec := range strings.SplitSeq(list, ";") {
		name, val, ok := strings.Cut(spec, "=")
		if ok && strings.TrimSpace(name) == tag {
			return strings.TrimSpace(val)
		}
	}
	return ""
}

// decide gives the signature a final result without go-msgauth.
func (s *dkimSig) decide(r dnsauth.Result, reason string) {
	s.result = s.with(r, reason)
}

// with is the signature's result with r and reason.
func (s *dkimSig) with(r dnsauth.Result, reason string) Result {
	res := s.result
	res.Result, res.Reason = r, reason
	if r == dnsauth.Pass {
		res.Reason = ""
	}
	return res
}

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

// dkimPipe carries the message to go-msgauth: the header block, then the
// body as Write gives it. Unlike io.Pipe it buffers up to dkimPipeSize, so
// Write returns while the keys are still being looked up; beyond that
// Write waits, and the memory stays bounded.
type dkimPipe struct {
	head    []byte // the header block, read first
	mu      sync.Mutex
	cond    sync.Cond
	buf     []byte
	off     int  // buf[off:] is still to be read
	wdone   bool // no more data: the reader gets EOF after buf
	rdone   bool // the reader is gone: writes are dropped
	aborted bool // buf was dropped
	lent    bool // WriteTo is writing buf[off:] out: do not move it
	stop    func() bool
}

// dkimNewPipe makes a pipe that aborts itself when ctx ends, so a Write
// waiting on it never outlives the session.
func dkimNewPipe(ctx context.Context, head []byte) *dkimPipe {
	p := &dkimPipe{head: head}
	p.cond.L = &p.mu
	p.stop = context.AfterFunc(ctx, p.abort)
	return p
}

// Read is go-msgauth's side of the pipe.
func (p *dkimPipe) Read(b []byte) (int, error) {
	if len(p.head) > 0 { // only the reader touches head: no lock
		n := copy(b, p.head)
		if p.head = p.head[n:]; len(p.head) == 0 {
			p.head = nil // let the block go
		}
		return n, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.off == len(p.buf) && !p.wdone {
		p.cond.Wait()
	}
	if p.off == len(p.buf) {
		return 0, io.EOF
	}
	n := copy(b, p.buf[p.off:])
	p.off += n
	if p.off == len(p.buf) {
		p.buf, p.off = p.buf[:0], 0
	}
	p.cond.Broadcast()
	return n, nil
}

// WriteTo hands the body to w straight from the pipe's buffer, sparing
// go-msgauth the 32 KiB copy buffer io.Copy would make per message.
func (p *dkimPipe) WriteTo(w io.Writer) (int64, error) {
	total, err := int64(len(p.head)), error(nil)
	if len(p.head) > 0 {
		_, err = w.Write(p.head)
		p.head = nil
	}
	if err != nil {
		return total, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		for p.off == len(p.buf) && !p.wdone {
			p.cond.Wait()
		}
		if p.off == len(p.buf) || p.aborted {
			return total, nil
		}
		chunk := p.buf[p.off:len(p.buf):len(p.buf)]
		p.lent = true
		p.mu.Unlock()
		n, err := w.Write(chunk)
		p.mu.Lock()
		p.lent = false
		total += int64(n)
		if err != nil || p.aborted {
			return total, err
		}
		// reserve may have moved the data to a new buffer meanwhile, but
		// it still starts with chunk.
		p.off += n
		if p.off == len(p.buf) {
			p.buf, p.off = p.buf[:0], 0
		}
		p.cond.Broadcast()
	}
}

// write queues b, waiting while the pipe is full.
func (p *dkimPipe) write(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(b) > 0 {
		for !p.wdone && !p.rdone && len(p.buf)-p.off >= dkimPipeSize {
			p.cond.Wait()
		}
		if p.wdone || p.rdone {
			return
		}
		n := min(len(b), dkimPipeSize-(len(p.buf)-p.off))
		p.reserve(n)
		p.buf = append(p.buf, b[:n]...)
		b = b[n:]
		p.cond.Broadcast()
	}
}

// reserve makes room for n more bytes, moving the unread ones to the
// front (unless WriteTo has them out) or to a larger buffer, never beyond
// dkimPipeSize.
func (p *dkimPipe) reserve(n int) {
	pending := len(p.buf) - p.off
	switch {
	case len(p.buf)+n <= cap(p.buf):
	case pending+n <= cap(p.buf) && !p.lent:
		copy(p.buf, p.buf[p.off:])
		p.buf, p.off = p.buf[:pending], 0
	default:
		nb := make([]byte, pending, min(dkimPipeSize, max(2*cap(p.buf), pending+n, 4096)))
		copy(nb, p.buf[p.off:])
		p.buf, p.off = nb, 0
	}
}

// closeWrite marks the end of the body.
func (p *dkimPipe) closeWrite() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.wdone = true
	p.cond.Broadcast()
}

// abort ends the body now: what is queued is dropped.
func (p *dkimPipe) abort() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.wdone, p.aborted = true, true
	p.buf, p.off = nil, 0
	p.cond.Broadcast()
}

// closeRead is called when go-msgauth is done reading.
func (p *dkimPipe) closeRead() {
	p.stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rdone, p.aborted = true, true
	p.buf, p.off = nil, 0
	p.cond.Broadcast()
}

// Signature is what ParseSignature reads from one
// DKIM-Signature header field value (RFC 6376 §3.5). Every string is the
// tag value with its folding whitespace removed.
type Signature struct {
	Version          string    // v=
	Algorithm        string    // a=, e.g. "rsa-sha256" or "ed25519-sha256"
	Domain           string    // d=, the signing domain (SDID), as written
	Selector         string    // s=
	Identifier       string    // i= as written; "" when absent (the AUID is then "@"+Domain)
	Canonicalization string    // c= as written; "" means simple/simple
	Headers          []string  // h=, the signed header field names, lower-cased, in order
	Signature        string    // the first characters of b=, for header.b (RFC 6008)
	Timestamp        time.Time // t=; zero when absent
	Expires          time.Time // x=; zero when absent
	BodyLength       bool      // l= is present: only part of the body is signed
}

// dkimSigPrefix is how much of b= goes into header.b: RFC 6008 §2 asks
// for at least eight characters.
const dkimSigPrefix = 8

// The tags ParseSignature looks at, numbered so duplicates are caught
// with a bit mask instead of a map.
const (
	dkimTagV = iota
	dkimTagA
	dkimTagB
	dkimTagBH
	dkimTagC
	dkimTagD
	dkimTagH
	dkimTagI
	dkimTagL
	dkimTagQ
	dkimTagS
	dkimTagT
	dkimTagX
)

// dkimTagNames maps a tag name to its number.
var dkimTagNames = map[string]int{
	"v": dkimTagV, "a": dkimTagA, "b": dkimTagB, "bh": dkimTagBH, "c": dkimTagC,
	"d": dkimTagD, "h": dkimTagH, "i": dkimTagI, "l": dkimTagL, "q": dkimTagQ,
	"s": dkimTagS, "t": dkimTagT, "x": dkimTagX,
}

// dkimRequiredTags are the tags every signature carries (RFC 6376 §3.5).
var dkimRequiredTags = [...]string{"v", "a", "b", "bh", "d", "h", "s"}

// dkimTags is one signature's raw tag values, as found.
type dkimTags struct {
	seen uint32
	val  [dkimTagX + 1]string
}

func (t *dkimTags) has(tag int) bool { return t.seen&(1<<tag) != 0 }

// ParseSignature reads the tags of one DKIM-Signature header field
// value. It is cheap (no key lookup, no hashing, few allocations) so the
// engine can ask at end of headers which signatures could still align with
// the From domain.
//
// An error means the signature can never pass: a tag without "=", a
// duplicate tag, a missing required tag, v= other than 1, an algorithm or
// canonicalization other than those RFC 6376 and RFC 8463 define (rsa-sha1
// is refused, RFC 8301 §3.1), an i= outside d=, h= without From (RFC 6376
// §5.4), a bad t= or x=, or b=/bh= that is not base64. The info then holds
// what could be read. Even without an error, a signature with l=
// (BodyLength) never passes here, nor one past its x=. The checks never go
// beyond what the verifier itself refuses before it fetches the key, so a
// signature accepted here is one the verifier really tries.
func ParseSignature(value string) (Signature, error) {
	var info Signature
	var tags dkimTags
	if err := tags.scan(value); err != nil {
		tags.fill(&info)
		return info, err
	}
	tags.fill(&info)
	return info, tags.check(&info)
}

// scan splits a tag list (RFC 6376 §3.2) and keeps the known tags.
func (t *dkimTags) scan(list string) error {
	for rest := list; rest != ""; {
		var spec string
		spec, rest, _ = strings.Cut(rest, ";")
		name, val, ok := strings.Cut(spec, "=")
		if !ok {
			if strings.TrimSpace(spec) == "" {
				continue
			}
			return fmt.Errorf("tag without '=': %q", dkimClip(strings.TrimSpace(spec)))
		}
		tag, known := dkimTagNames[strings.TrimSpace(name)]
		if !known {
			continue // RFC 6376 §3.2: unknown tags are ignored
		}
		if t.has(tag) {
			return fmt.Errorf("duplicate tag %s=", strings.TrimSpace(name))
		}
		t.seen |= 1 << tag
		t.val[tag] = strings.TrimSpace(val)
	}
	return nil
}

// fill copies the tag values into info.
func (t *dkimTags) fill(info *Signature) {
	info.Version = dkimStripSpace(t.val[dkimTagV])
	info.Algorithm = dkimStripSpace(t.val[dkimTagA])
	info.Domain = dkimStripSpace(t.val[dkimTagD])
	info.Selector = dkimStripSpace(t.val[dkimTagS])
	info.Identifier = dkimStripSpace(t.val[dkimTagI])
	info.Canonicalization = dkimStripSpace(t.val[dkimTagC])
	info.Headers = dkimHeaderList(t.val[dkimTagH])
	info.Signature = dkimPrefix(t.val[dkimTagB], dkimSigPrefix)
	info.BodyLength = t.has(dkimTagL)
	info.Timestamp, _ = dkimParseTime(t.val[dkimTagT])
	info.Expires, _ = dkimParseTime(t.val[dkimTagX])
}

// check applies the rules that make a parsed signature unusable, in the
// order of RFC 6376 §6.1.1.
func (t *dkimTags) check(info *Signature) error {
	for _, tag := range dkimRequiredTags {
		if !t.has(dkimTagNames[tag]) {
			return fmt.Errorf("missing required tag %s=", tag)
		}
	}
	if info.Version != "1" {
		return fmt.Errorf("unsupported version v=%s", dkimClip(info.Version))
	}
	if info.Domain == "" || info.Selector == "" {
		return errors.New("empty d= or s=")
	}
	for _, check := range []func() error{
		func() error { return dkimCheckAlgorithm(info.Algorithm) },
		func() error { return dkimCheckCanonicalization(info.Canonicalization) },
		func() error { return dkimCheckIdentifier(info.Identifier, info.Domain) },
		func() error { return dkimCheckFrom(info.Headers) },
		t.checkQuery,
		func() error { return t.checkTime(dkimTagT, "t") },
		func() error { return t.checkTime(dkimTagX, "x") },
		func() error { return dkimCheckBase64(t.val[dkimTagB], t.val[dkimTagBH]) },
	} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// dkimCheckAlgorithm accepts the two algorithms a verifier may use today:
// rsa-sha256 (RFC 6376) and ed25519-sha256 (RFC 8463). rsa-sha1 must not be
// verified any more (RFC 8301 §3.1).
func dkimCheckAlgorithm(a string) error {
	switch a {
	case "rsa-sha256", "ed25519-sha256":
		return nil
	case "rsa-sha1":
		return errors.New("a=rsa-sha1 is no longer accepted (RFC 8301 §3.1)")
	}
	return fmt.Errorf("unsupported algorithm a=%s", dkimClip(a))
}

// dkimCheckCanonicalization accepts c= of simple or relaxed for the header
// and, after "/", the body (RFC 6376 §3.4); each defaults to simple.
func dkimCheckCanonicalization(c string) error {
	head, body, _ := strings.Cut(c, "/")
	for _, v := range [2]string{head, body} {
		if v != "" && v != "simple" && v != "relaxed" {
			return fmt.Errorf("unsupported canonicalization c=%s", dkimClip(c))
		}
	}
	return nil
}

// dkimCheckIdentifier applies RFC 6376 §3.5 i=: its domain is d= or a
// subdomain of it. Domains compare without regard to case.
func dkimCheckIdentifier(i, d string) error {
	if i == "" {
		return nil
	}
	lower, suffix := strings.ToLower(i), strings.ToLower(d)
	if strings.HasSuffix(lower, "@"+suffix) || strings.HasSuffix(lower, "."+suffix) {
		return nil
	}
	return fmt.Errorf("i=%s is not within d=%s", dkimClip(i), dkimClip(d))
}

// dkimCheckFrom requires From among the signed fields (RFC 6376 §5.4).
func dkimCheckFrom(h []string) error {
	if slices.Contains(h, "from") {
		return nil
	}
	return errors.New("h= does not include From (RFC 6376 §5.4)")
}

// checkQuery accepts q= only when it offers dns/txt, the one query method
// there is (RFC 6376 §3.5).
func (t *dkimTags) checkQuery() error {
	if !t.has(dkimTagQ) {
		return nil
	}
	for m := range strings.SplitSeq(t.val[dkimTagQ], ":") {
		if dkimStripSpace(m) == "dns/txt" {
			return nil
		}
	}
	return fmt.Errorf("unsupported query method q=%s", dkimClip(t.val[dkimTagQ]))
}

// checkTime requires t= or x=, when present, to be a number of seconds.
func (t *dkimTags) checkTime(tag int, name string) error {
	if !t.has(tag) {
		return nil
	}
	if _, err := dkimParseTime(t.val[tag]); err != nil {
		return fmt.Errorf("bad %s=%s", name, dkimClip(t.val[tag]))
	}
	return nil
}

// dkimParseTime reads seconds since the Unix epoch; "" is the zero time.
func dkimParseTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	sec, err := strconv.ParseInt(dkimStripSpace(v), 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(sec, 0), nil
}

// dkimCheckBase64 requires b= and bh= to be padded standard base64.
func dkimCheckBase64(b, bh string) error {
	if !dkimIsBase64(b) || !dkimIsBase64(bh) {
		return errors.New("b= or bh= is not base64")
	}
	return nil
}

// dkimHeaderList splits h= at ":" into lower-case field names.
func dkimHeaderList(h string) []string {
	if h == "" {
		return nil
	}
	out := make([]string, 0, strings.Count(h, ":")+1)
	for name := range strings.SplitSeq(h, ":") {
		out = append(out, strings.ToLower(dkimStripSpace(name)))
	}
	return out
}

// dkimStripSpace removes all white space (folding included) from a tag
// value, as go-msgauth does. Values without any come back as they are.
func dkimStripSpace(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || c == ' ' || (c >= '\t' && c <= '\r') {
			return strings.Map(func(r rune) rune {
				if unicode.IsSpace(r) {
					return -1
				}
				return r
			}, s)
		}
	}
	return s
}

// dkimIsSpaceByte is ASCII white space.
func dkimIsSpaceByte(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }

// dkimPrefix returns the first n characters of s that are not white
// space, without copying when they are contiguous.
func dkimPrefix(s string, n int) string {
	i := 0
	for i < len(s) && dkimIsSpaceByte(s[i]) {
		i++
	}
	j := i
	for j < len(s) && j-i < n && !dkimIsSpaceByte(s[j]) {
		j++
	}
	if j-i == n || j == len(s) {
		return s[i:j]
	}
	b := make([]byte, 0, n)
	for k := i; k < len(s) && len(b) < n; k++ {
		if !dkimIsSpaceByte(s[k]) {
			b = append(b, s[k])
		}
	}
	return string(b)
}

// dkimIsBase64 reports whether v, white space aside, is padded standard
// base64 as go-msgauth decodes it.
func dkimIsBase64(v string) bool {
	n, pad := 0, 0
	for _, r := range v {
		switch {
		case unicode.IsSpace(r):
			continue
		case r == '=':
			pad++
		case pad > 0:
			return false
		case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '+', r == '/':
		default:
			return false
		}
		n++
	}
	return n%4 == 0 && pad <= 2
}

// dkimClip shortens a hostile value before it goes into a reason.
func dkimClip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
