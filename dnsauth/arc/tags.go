package arc

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// tag is one tag-spec of a tag list (RFC 6376 §3.2): its name, its value
// with the surrounding folding white space trimmed, and where that value
// sits in the field value (so b= can be emptied for hashing).
type tag struct {
	name, value string
	from, to    int
}

// parseTags splits a tag list strictly by RFC 6376 §3.2: every tag-spec
// has a tag-name (ALPHA *ALNUMPUNC), "=" and a value of VALCHARs with
// white space only between them; a ";" may end the list but an empty
// tag-spec anywhere else is an error, as is a duplicate name. Names are
// case-sensitive: "A=" is not "a=".
func parseTags(list string) ([]tag, error) {
	var tags []tag
	for pos := 0; pos <= len(list); {
		end := strings.IndexByte(list[pos:], ';')
		if end < 0 {
			end = len(list)
		} else {
			end += pos
		}
		spec := list[pos:end]
		if isBlank(spec) {
			if end < len(list) {
				return nil, errors.New("empty tag-spec (stray ';')")
			}
			break // a final ";" may end the list
		}
		t, err := parseSpec(spec, pos)
		if err != nil {
			return nil, err
		}
		for _, seen := range tags {
			if seen.name == t.name {
				return nil, fmt.Errorf("duplicate tag %s=", clip(t.name))
			}
		}
		tags = append(tags, t)
		pos = end + 1
	}
	return tags, nil
}

// parseSpec reads one tag-spec that starts at offset base of its list.
func parseSpec(spec string, base int) (tag, error) {
	eq := strings.IndexByte(spec, '=')
	if eq < 0 {
		return tag{}, fmt.Errorf("tag without '=': %q", clip(strings.TrimSpace(spec)))
	}
	name := trimFWS(spec[:eq])
	if !isTagName(name) {
		return tag{}, fmt.Errorf("invalid tag name %q", clip(name))
	}
	raw := spec[eq+1:]
	lead := len(raw) - len(strings.TrimLeft(raw, " \t\r\n"))
	value := trimFWS(raw)
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < 0x21 && !isFWSByte(c) || c == 0x7f {
			return tag{}, fmt.Errorf("invalid character in %s= value", name)
		}
	}
	from := base + eq + 1 + lead
	return tag{name: name, value: value, from: from, to: from + len(value)}, nil
}

// isTagName is tag-name = ALPHA *ALNUMPUNC (RFC 6376 §3.2).
func isTagName(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlpha(c) && !isDigit(c) && c != '_' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool     { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool     { return c >= '0' && c <= '9' }
func isFWSByte(c byte) bool   { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
func trimFWS(s string) string { return strings.Trim(s, " \t\r\n") }

// isBlank reports whether s is folding white space only.
func isBlank(s string) bool { return trimFWS(s) == "" }

// stripFWS removes all folding white space, as base64 values and h=
// allow it anywhere (RFC 6376 §3.5).
func stripFWS(s string) string {
	if strings.IndexAny(s, " \t\r\n") < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
}

// parseInstance reads an ARC instance number: 1 to 50 without leading
// zeros (RFC 8617 §4.2.1).
func parseInstance(v string) (int, error) {
	if v == "" || v[0] < '1' || v[0] > '9' || len(v) > 2 {
		return 0, fmt.Errorf("invalid instance i=%s", clip(v))
	}
	n, err := strconv.Atoi(v)
	if err != nil || n > MaxInstances {
		return 0, fmt.Errorf("invalid instance i=%s", clip(v))
	}
	return n, nil
}

// checkAlgorithm accepts rsa-sha256 (RFC 6376) and ed25519-sha256
// (RFC 8463); rsa-sha1 is refused (RFC 8301 §3.1). Values are
// case-sensitive.
func checkAlgorithm(a string) error {
	switch a {
	case algRSA, algEd25519:
		return nil
	case "rsa-sha1":
		return errors.New("a=rsa-sha1 is not accepted (RFC 8301 §3.1)")
	}
	return fmt.Errorf("unsupported algorithm a=%s", clip(a))
}

// The signing algorithms a verifier accepts.
const (
	algRSA     = "rsa-sha256"
	algEd25519 = "ed25519-sha256"
)

// decodeBase64 reads b= or bh=: padded base64, folding white space
// ignored, never empty.
func decodeBase64(name, v string) ([]byte, error) {
	s := stripFWS(v)
	if s == "" {
		return nil, fmt.Errorf("empty %s=", name)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%s= is not base64", name)
	}
	return b, nil
}

// checkDomain accepts a domain name (or a selector) of dot-separated
// labels of letters, digits, hyphens and underscores, each 1 to 63
// bytes, 253 bytes at most (RFC 6376 §3.5 d=, s=).
func checkDomain(name, v string) error {
	if v == "" || len(v) > 253 {
		return fmt.Errorf("invalid %s=%s", name, clip(v))
	}
	for label := range strings.SplitSeq(v, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("invalid %s=%s", name, clip(v))
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !isAlpha(c) && !isDigit(c) && c != '-' && c != '_' {
				return fmt.Errorf("invalid %s=%s", name, clip(v))
			}
		}
	}
	return nil
}

// parseTime reads t= or x=: seconds since the epoch, digits only.
func parseTime(name, v string) (time.Time, error) {
	if v == "" || len(v) > 12 {
		return time.Time{}, fmt.Errorf("invalid %s=%s", name, clip(v))
	}
	for i := 0; i < len(v); i++ {
		if !isDigit(v[i]) {
			return time.Time{}, fmt.Errorf("invalid %s=%s", name, clip(v))
		}
	}
	n, _ := strconv.ParseInt(v, 10, 64)
	return time.Unix(n, 0), nil
}

// clip shortens a hostile value before it goes into a reason; a rune
// cut in two at the end is dropped.
func clip(s string) string {
	if len(s) <= 64 {
		return s
	}
	return strings.ToValidUTF8(s[:64], "") + "..."
}
