package arc

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// signature is a parsed ARC-Message-Signature or ARC-Seal: the tags the
// verifier uses, checked.
type signature struct {
	instance  int
	algorithm string
	sig       []byte // b=, decoded
	bodyHash  []byte // bh= (AMS only), decoded
	headerSimple,
	bodySimple bool // c= (AMS only): simple instead of relaxed
	domain   string   // d=
	selector string   // s=
	headers  []string // h= (AMS only), lower-cased, in order
	cv       string   // cv= (AS only)
	expires  time.Time
	bFrom    int // b='s value in the field value: emptied for hashing
	bTo      int
}

// amsTags are the tags an ARC-Message-Signature must carry: those of a
// DKIM-Signature (RFC 6376 §3.5) less v=, with i= the instance
// (RFC 8617 §4.1.2).
var amsTags = [...]string{"i", "a", "b", "bh", "d", "h", "s"}

// asTags are the tags an ARC-Seal must carry (RFC 8617 §4.1.3).
var asTags = [...]string{"i", "a", "b", "cv", "d", "s"}

// maxSignedFields bounds h=: the header hashing costs names × fields.
const maxSignedFields = 256

// parseSignature reads the tag list of an ARC-Seal or
// ARC-Message-Signature, requires its tags and reads the common ones.
func parseSignature(value string, required []string) (*signature, map[string]tag, error) {
	tags, err := parseTags(value)
	if err != nil {
		return nil, nil, err
	}
	m, err := tagMap(tags, required)
	if err != nil {
		return nil, nil, err
	}
	s, err := parseCommon(m)
	return s, m, err
}

// tagMap indexes a parsed tag list by name and checks the required tags.
func tagMap(tags []tag, required []string) (map[string]tag, error) {
	m := make(map[string]tag, len(tags))
	for _, t := range tags {
		m[t.name] = t
	}
	for _, name := range required {
		if _, ok := m[name]; !ok {
			return nil, fmt.Errorf("missing required tag %s=", name)
		}
	}
	return m, nil
}

// parseCommon reads the tags ARC-Seal and ARC-Message-Signature share:
// i=, a=, b=, d=, s= and t=.
func parseCommon(m map[string]tag) (*signature, error) {
	s := &signature{}
	var err error
	if s.instance, err = parseInstance(m["i"].value); err != nil {
		return s, err
	}
	s.algorithm = m["a"].value
	if err = checkAlgorithm(s.algorithm); err != nil {
		return s, err
	}
	b := m["b"]
	s.bFrom, s.bTo = b.from, b.to
	if s.sig, err = decodeBase64("b", b.value); err != nil {
		return s, err
	}
	s.domain, s.selector = m["d"].value, m["s"].value
	if err = checkDomain("d", s.domain); err != nil {
		return s, err
	}
	if err = checkDomain("s", s.selector); err != nil {
		return s, err
	}
	if t, ok := m["t"]; ok {
		_, err = parseTime("t", t.value)
	}
	return s, err
}

// parseAMS reads an ARC-Message-Signature field value (RFC 8617 §4.1.2).
func parseAMS(value string) (*signature, error) {
	s, m, err := parseSignature(value, amsTags[:])
	if err != nil {
		return s, err
	}
	for _, check := range [...]func(map[string]tag) error{
		s.parseBodyHash, s.parseCanon, s.parseHeaders, s.parseExpiry, checkQuery, checkLength,
	} {
		if err := check(m); err != nil {
			return s, err
		}
	}
	return s, nil
}

func (s *signature) parseBodyHash(m map[string]tag) (err error) {
	s.bodyHash, err = decodeBase64("bh", m["bh"].value)
	return err
}

// parseCanon reads c= (RFC 6376 §3.5): header and, after "/", body
// canonicalization, each simple or relaxed; absent means simple/simple,
// present but empty is an error.
func (s *signature) parseCanon(m map[string]tag) error {
	t, ok := m["c"]
	if !ok {
		s.headerSimple, s.bodySimple = true, true
		return nil
	}
	head, body, slash := strings.Cut(t.value, "/")
	if head == "" || slash && body == "" {
		return fmt.Errorf("invalid c=%s", clip(t.value))
	}
	var err error
	if s.headerSimple, err = canonSimple(head); err != nil {
		return fmt.Errorf("invalid c=%s", clip(t.value))
	}
	if s.bodySimple, err = canonSimple(body); err != nil {
		return fmt.Errorf("invalid c=%s", clip(t.value))
	}
	return nil
}

// canonSimple tells simple ("" defaults to it) from relaxed.
func canonSimple(c string) (bool, error) {
	switch c {
	case "", "simple":
		return true, nil
	case "relaxed":
		return false, nil
	}
	return false, errors.New("unknown canonicalization")
}

// parseHeaders reads h=: field names separated by ":" with folding white
// space around them. It must name From (RFC 6376 §6.1.1, which RFC 8617
// §4.1.2 inherits) and must not name ARC-Seal (RFC 8617 §4.1.2). An
// empty name between two colons signs nothing, like a name that is not
// in the message.
func (s *signature) parseHeaders(m map[string]tag) error {
	list := stripFWS(m["h"].value)
	if list == "" {
		return errors.New("empty h=")
	}
	if strings.Count(list, ":") >= maxSignedFields {
		return fmt.Errorf("h= signs over %d header fields", maxSignedFields)
	}
	from := false
	for name := range strings.SplitSeq(list, ":") {
		name = strings.ToLower(name)
		switch name {
		case "from":
			from = true
		case "arc-seal":
			return errors.New("h= includes ARC-Seal (RFC 8617 §4.1.2)")
		}
		s.headers = append(s.headers, name)
	}
	if !from {
		return errors.New("h= does not include From (RFC 6376 §6.1.1)")
	}
	return nil
}

// parseExpiry reads x=, the time after which the signature is void.
func (s *signature) parseExpiry(m map[string]tag) (err error) {
	if t, ok := m["x"]; ok {
		s.expires, err = parseTime("x", t.value)
	}
	return err
}

// checkQuery accepts q= only when it offers dns/txt (RFC 6376 §3.5).
func checkQuery(m map[string]tag) error {
	t, ok := m["q"]
	if !ok {
		return nil
	}
	for method := range strings.SplitSeq(t.value, ":") {
		if trimFWS(method) == "dns/txt" {
			return nil
		}
	}
	return fmt.Errorf("unsupported query method q=%s", clip(t.value))
}

// checkLength refuses l=: a signature over part of the body lets
// anything be appended to a sealed message (RFC 6376 §8.2).
func checkLength(m map[string]tag) error {
	if _, ok := m["l"]; ok {
		return errors.New("l= (a partial body signature) is not accepted")
	}
	return nil
}

// parseAS reads an ARC-Seal field value (RFC 8617 §4.1.3).
func parseAS(value string) (*signature, error) {
	s, m, err := parseSignature(value, asTags[:])
	if err != nil {
		return s, err
	}
	if _, ok := m["h"]; ok {
		return s, errors.New("h= is not allowed in an ARC-Seal (RFC 8617 §4.1.3)")
	}
	switch s.cv = m["cv"].value; s.cv {
	case "none", "pass", "fail":
		return s, nil
	}
	return s, fmt.Errorf("invalid cv=%s", clip(s.cv))
}

// instanceOf reads just i= of an ARC-Seal or ARC-Message-Signature,
// for the chain's structure.
func instanceOf(value string) (int, error) {
	tags, err := parseTags(value)
	if err != nil {
		return 0, err
	}
	for _, t := range tags {
		if t.name == "i" {
			return parseInstance(t.value)
		}
	}
	return 0, errors.New("missing required tag i=")
}
