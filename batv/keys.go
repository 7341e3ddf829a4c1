package batv

import (
	"crypto/hmac"
	"encoding/hex"
	"strings"
	"time"
)

// Keys are the secrets that sign and verify tags. The first one signs.
type Keys struct {
	secrets [][]byte
	names   []string // where each key came from, for explanations
}

// NewKeys builds a key list from secrets already loaded; names label them
// in explanations (file names) and may be nil.
func NewKeys(secrets [][]byte, names []string) *Keys {
	k := &Keys{secrets: secrets, names: names}
	for len(k.names) < len(secrets) {
		k.names = append(k.names, "key "+string(rune('1'+len(k.names))))
	}
	return k
}

// Len is the number of keys.
func (k *Keys) Len() int {
	if k == nil {
		return 0
	}
	return len(k.secrets)
}

// Sign tags addr (local@domain) with the first key, valid for Lifetime
// days from now. An address already tagged, or one without a local part
// and domain, is returned as it is.
func (k *Keys) Sign(addr string, now time.Time) string {
	if k.Len() == 0 || !validInner(addr) {
		return addr
	}
	secret := k.secrets[0]
	key := keyDigit(secret)
	day := (Day(now) + Lifetime) % dayWrap
	return Tag{Key: key, Day: day, Signature: macHex(secret, key, day, addr), Address: addr}.String()
}

// Status is what verification concluded about a tag.
type Status string

// The verification results.
const (
	Untagged Status = "untagged" // not a prvs address
	Valid    Status = "valid"    // one of the keys made it and it has not expired
	Expired  Status = "expired"  // one of the keys made it, but its day has passed
	BadTag   Status = "invalid"  // no key made it: forged, altered, or a retired key
)

// Result is the outcome of Verify with what a human needs to understand it.
type Result struct {
	Status  Status
	Tag     Tag    // the parsed tag (zero when untagged)
	KeyName string // the key that made it, for Valid and Expired
	// DaysLeft is how many more days the tag is valid (0..Lifetime) for
	// Valid; for Expired, how many days ago it expired.
	DaysLeft, DaysAgo int
}

// Verify checks a tagged address at time now. Every key is tried, each
// with a constant-time comparison; the key digit only names which key
// signed, it does not pick one, so a rotation never strands a tag.
func (k *Keys) Verify(addr string, now time.Time) Result {
	t, ok := Parse(addr)
	if !ok {
		return Result{Status: Untagged}
	}
	got, err := hex.DecodeString(t.Signature)
	if err != nil || k.Len() == 0 {
		return Result{Status: BadTag, Tag: t}
	}
	i := k.match(t, got)
	if i < 0 {
		return Result{Status: BadTag, Tag: t}
	}
	return judgeDay(t, k.names[i], Day(now))
}

// match returns the index of the key that made the tag, or -1. It goes
// through every key even after a match, so the time taken does not say
// which key (or whether any) matched.
func (k *Keys) match(t Tag, got []byte) int {
	found := -1
	for i, s := range k.secrets {
		want := mac(s, t.Key, t.Day, t.Address)
		if hmac.Equal(want, got) && keyDigit(s) == t.Key && found < 0 {
			found = i
		}
	}
	return found
}

// judgeDay decides validity by the expiry day: 0..Lifetime days left is
// valid; anything else has expired (or names a day further ahead than any
// tag we sign, which only a key holder could produce: treated as expired
// rather than trusted).
func judgeDay(t Tag, keyName string, today int) Result {
	left := remaining(t.Day, today)
	if left <= Lifetime {
		return Result{Status: Valid, Tag: t, KeyName: keyName, DaysLeft: left}
	}
	return Result{Status: Expired, Tag: t, KeyName: keyName, DaysAgo: dayWrap - left}
}

// Strip returns the address without its tag, or addr itself when it
// carries none. The daemon never strips (the MTA's alias map does); kept
// as the inverse of Sign that the tests hold signed addresses to.
func Strip(addr string) string {
	if t, ok := Parse(addr); ok {
		return t.Address
	}
	return addr
}

// IsTagged reports whether addr has the form of a tagged address.
func IsTagged(addr string) bool {
	return len(addr) > len(prefix) && strings.EqualFold(addr[:len(prefix)], prefix)
}
