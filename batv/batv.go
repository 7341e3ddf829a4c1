// Package batv signs envelope senders and checks the tags on bounces, as
// draft-levine-smtp-batv-01 (Bounce Address Tag Validation) describes with
// its "prvs" tag type: the sender local@domain leaves as
// prvs=KDDDSSSSSS=local@domain, where K is a key digit, DDD the day the
// tag expires (days since 1970-01-01, modulo 1000) and SSSSSS the first
// three bytes of an HMAC-SHA1 over K, DDD and the address. A real bounce
// goes back to that address; a bounce of forged mail (backscatter) either
// carries no tag or one that does not verify.
//
// A Keys value holds the secrets: the first key signs, every key
// verifies, so a new key can be put in front while bounces of mail signed
// with the old one are still in flight.
package batv

import (
	"crypto/hmac"
	"crypto/sha1" // draft-levine-smtp-batv-01 §4.1 names HMAC-SHA1; the tag carries 24 bits of it
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// Lifetime is how long a tag stays valid after signing, in days. Real
// bounces come back within the few days MTAs keep retrying (Postfix's
// maximal_queue_lifetime is 5 days); the draft suggests about a week.
const Lifetime = 7

// dayWrap is the modulus of the DDD field: three decimal digits.
const dayWrap = 1000

// prefix starts every tagged address (the draft's tag-type "prvs").
const prefix = "prvs="

// Tag is a tagged address read into its parts.
type Tag struct {
	Key       byte   // the key digit '0'..'9'
	Day       int    // expiry day, days since 1970-01-01 modulo 1000
	Signature string // six hex digits, lower case
	Address   string // the untagged address local@domain
}

// String writes the tag back as an address.
func (t Tag) String() string {
	return prefix + string(t.Key) + threeDigits(t.Day) + t.Signature + "=" + t.Address
}

// Parse reads a tagged address. It reports false for anything that is not
// prvs=KDDDSSSSSS=local@domain; the tag-type is matched without regard to
// case, since some MTAs change the case of the local part.
func Parse(addr string) (Tag, bool) {
	if len(addr) < len(prefix)+11 || !strings.EqualFold(addr[:len(prefix)], prefix) {
		return Tag{}, false
	}
	val, rest := addr[len(prefix):len(prefix)+10], addr[len(prefix)+10:]
	if rest[0] != '=' || !validInner(rest[1:]) {
		return Tag{}, false
	}
	day, ok := digits(val[1:4])
	if !ok || val[0] < '0' || val[0] > '9' || !isHex(val[4:]) {
		return Tag{}, false
	}
	return Tag{Key: val[0], Day: day, Signature: strings.ToLower(val[4:]), Address: rest[1:]}, true
}

// validInner reports whether the address inside the tag has a local part
// and a domain, and is not itself tagged (a tag of a tag is never ours).
func validInner(a string) bool {
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 {
		return false
	}
	return !strings.HasPrefix(strings.ToLower(a), prefix)
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func threeDigits(n int) string {
	return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
}

// Day is the day number of t: days since 1970-01-01 UTC.
func Day(t time.Time) int {
	return int(t.UTC().Unix() / 86400)
}

// remaining is how many days before the tag's expiry day `today` lies,
// with the three-digit wrap-around: a tag that expires on day 002 read on
// day 998 has 4 days left. A tag past its expiry comes out near 999.
func remaining(expiry, today int) int {
	return ((expiry-today%dayWrap)%dayWrap + dayWrap) % dayWrap
}

// keyDigit is the K a key writes into its tags: derived from the key
// itself, so it stays the same wherever the key sits in the list and a
// rotation does not change which key a tag names.
func keyDigit(secret []byte) byte {
	sum := sha256.Sum256(secret)
	return '0' + sum[0]%10
}

// mac computes the SSSSSS part: HMAC-SHA1 over K, DDD and the address
// (draft-levine-smtp-batv-01 §4.1: hash-source = K DDD orig-mailfrom),
// first three bytes. The address is hashed in lower case: MTAs on the way
// back may change its case, and only this daemon ever verifies the tag.
func mac(secret []byte, key byte, day int, addr string) []byte {
	h := hmac.New(sha1.New, secret)
	h.Write([]byte{key})
	h.Write([]byte(threeDigits(day)))
	h.Write([]byte(strings.ToLower(addr)))
	return h.Sum(nil)[:3]
}

func macHex(secret []byte, key byte, day int, addr string) string {
	return hex.EncodeToString(mac(secret, key, day, addr))
}
