package dkim

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"

	"github.com/spoofguard/spoofguard/dnsauth"
)

// The header block: kept (bounded) until the empty line, then searched
// for the DKIM-Signature fields worth verifying.

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
