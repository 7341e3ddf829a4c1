package batv

import (
	"strings"
	"testing"
	"time"
)

var (
	keyA = []byte("0123456789abcdef0123456789abcdef")
	keyB = []byte("fedcba9876543210fedcba9876543210")
)

// day0 is 2026-12-05 00:00 UTC, a day number ending in 703.
var day0 = time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)

func days(n int) time.Time { return day0.Add(time.Duration(n) * 24 * time.Hour) }

func TestSignVerifyLifetime(t *testing.T) {
	k := NewKeys([][]byte{keyA}, []string{"a.key"})
	tagged := k.Sign("alice@example.org", day0)
	if !strings.HasPrefix(tagged, "prvs=") || !strings.HasSuffix(tagged, "=alice@example.org") || len(tagged) != len("prvs=KDDDSSSSSS=alice@example.org") {
		t.Fatalf("Sign = %q", tagged)
	}
	test := func(after int, want Status, left, ago int) {
		t.Helper()
		r := k.Verify(tagged, days(after))
		if r.Status != want || r.DaysLeft != left || r.DaysAgo != ago {
			t.Errorf("after %d days: %+v, want %s left %d ago %d", after, r, want, left, ago)
		}
		if want != BadTag && r.KeyName != "a.key" {
			t.Errorf("after %d days: key %q", after, r.KeyName)
		}
	}
	test(0, Valid, 7, 0)
	test(3, Valid, 4, 0)
	test(7, Valid, 0, 0)
	test(8, Expired, 0, 1)
	test(30, Expired, 0, 23)
	// A tag read before the day it was made (clock skew between hosts
	// of one site) is older than nothing we sign: refused as expired.
	test(-1, Expired, 0, 992)
}

func TestDayWrapAround(t *testing.T) {
	k := NewKeys([][]byte{keyA}, nil)
	// Signed on day 20996 the tag expires on day 21003, written 003.
	signed := time.Unix(20996*86400+3600, 0)
	tagged := k.Sign("bob@example.org", signed)
	tag, ok := Parse(tagged)
	if !ok || tag.Day != 3 {
		t.Fatalf("tag %q day %d, want 003", tagged, tag.Day)
	}
	for d, want := range map[int]Status{0: Valid, 4: Valid, 7: Valid, 8: Expired} {
		if r := k.Verify(tagged, signed.Add(time.Duration(d)*24*time.Hour)); r.Status != want {
			t.Errorf("%d days after signing across the wrap: %s, want %s", d, r.Status, want)
		}
	}
	if got := remaining(3, 20998); got != 5 {
		t.Errorf("remaining(3, 20998) = %d, want 5", got)
	}
}

func TestVerifyRefusesAlteredTags(t *testing.T) {
	k := NewKeys([][]byte{keyA}, nil)
	tagged := k.Sign("alice@example.org", day0)
	tag, _ := Parse(tagged)
	other := tag
	other.Address = "mallory@example.org"
	later := tag
	later.Day = (tag.Day + 1) % 1000
	flipped := tag
	flipped.Signature = flip(tag.Signature)
	for name, addr := range map[string]string{
		"other address": other.String(),
		"later day":     later.String(),
		"signature":     flipped.String(),
		"other key":     NewKeys([][]byte{keyB}, nil).Sign("alice@example.org", day0),
	} {
		if r := k.Verify(addr, day0); r.Status != BadTag {
			t.Errorf("%s (%s): %s, want invalid", name, addr, r.Status)
		}
	}
	if r := NewKeys(nil, nil).Verify(tagged, day0); r.Status != BadTag {
		t.Errorf("no keys: %s", r.Status)
	}
}

func flip(s string) string {
	b := []byte(s)
	if b[0] == '0' {
		b[0] = '1'
	} else {
		b[0] = '0'
	}
	return string(b)
}

func TestVerifyIgnoresCase(t *testing.T) {
	k := NewKeys([][]byte{keyA}, nil)
	tagged := k.Sign("Alice@Example.ORG", day0)
	for _, addr := range []string{tagged, strings.ToUpper(tagged), strings.ToLower(tagged)} {
		if r := k.Verify(addr, day0); r.Status != Valid {
			t.Errorf("%s: %s", addr, r.Status)
		}
	}
}

// The key that signed stays valid when a new key is put in front of it:
// bounces of mail sent before the rotation still pass.
func TestRotation(t *testing.T) {
	old := NewKeys([][]byte{keyA}, []string{"old.key"})
	tagged := old.Sign("alice@example.org", day0)
	rotated := NewKeys([][]byte{keyB, keyA}, []string{"new.key", "old.key"})
	if r := rotated.Verify(tagged, days(2)); r.Status != Valid || r.KeyName != "old.key" {
		t.Errorf("old tag after rotation: %+v", r)
	}
	fresh := rotated.Sign("alice@example.org", day0)
	if fresh == tagged {
		t.Fatalf("rotated keys still sign with the old key")
	}
	if r := rotated.Verify(fresh, day0); r.KeyName != "new.key" {
		t.Errorf("new tag: %+v", r)
	}
	if r := old.Verify(fresh, day0); r.Status != BadTag {
		t.Errorf("new tag under the old list alone: %s", r.Status)
	}
}

func TestSignLeavesAlone(t *testing.T) {
	k := NewKeys([][]byte{keyA}, nil)
	tagged := k.Sign("alice@example.org", day0)
	for _, addr := range []string{"", "alice", "@example.org", "alice@", tagged} {
		if got := k.Sign(addr, day0); got != addr {
			t.Errorf("Sign(%q) = %q", addr, got)
		}
	}
	if got := NewKeys(nil, nil).Sign("a@example.org", day0); got != "a@example.org" {
		t.Errorf("no keys: Sign = %q", got)
	}
}

func TestParse(t *testing.T) {
	good := map[string]Tag{
		"prvs=1703abcdef=alice@example.org":   {Key: '1', Day: 703, Signature: "abcdef", Address: "alice@example.org"},
		"PRVS=0000ABCDEF=a.b+c@example.org":   {Key: '0', Day: 0, Signature: "abcdef", Address: "a.b+c@example.org"},
		`prvs=9999012345="a b"@example.org`:   {Key: '9', Day: 999, Signature: "012345", Address: `"a b"@example.org`},
		"prvs=5123a1b2c3=user@sub.example.co": {Key: '5', Day: 123, Signature: "a1b2c3", Address: "user@sub.example.co"},
	}
	for in, want := range good {
		got, ok := Parse(in)
		if !ok || got != want {
			t.Errorf("Parse(%q) = %+v %v, want %+v", in, got, ok, want)
		}
		if Strip(in) != want.Address {
			t.Errorf("Strip(%q) = %q", in, Strip(in))
		}
	}
	for _, in := range []string{
		"", "alice@example.org", "prvs=", "prvs=1703abcdef=", "prvs=1703abcdef=alice",
		"prvs=1703abcdef=@example.org", "prvs=1703abcdef=alice@", "prvs=x703abcdef=alice@example.org",
		"prvs=17a3abcdef=alice@example.org", "prvs=1703abcdeg=alice@example.org",
		"prvs=1703abcde=alice@example.org", "prvs=1703abcdef0=alice@example.org",
		"prvs=1703abcdef=prvs=1703abcdef=alice@example.org", "btv1=1703abcdef=alice@example.org",
		"alice=prvs=1703abcdef@example.org",
	} {
		if tag, ok := Parse(in); ok {
			t.Errorf("Parse(%q) = %+v, want no tag", in, tag)
		}
	}
}

func TestKeyDigitFollowsTheKey(t *testing.T) {
	one := NewKeys([][]byte{keyA}, nil).Sign("a@example.org", day0)
	two := NewKeys([][]byte{keyA, keyB}, nil).Sign("a@example.org", day0)
	if one != two {
		t.Errorf("the same key signs differently by list: %s vs %s", one, two)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"prvs=1703abcdef=alice@example.org", "PRVS=0000ABCDEF=a@b", "prvs=", "prvs=1703abcdef=prvs=", "x@y"} {
		f.Add(s)
	}
	k := NewKeys([][]byte{keyA}, nil)
	f.Fuzz(func(t *testing.T, s string) {
		tag, ok := Parse(s)
		if !ok {
			if Strip(s) != s {
				t.Fatalf("Strip changed an untagged address %q", s)
			}
			return
		}
		again, ok := Parse(tag.String())
		if !ok || again != tag {
			t.Fatalf("round trip of %q: %+v -> %q -> %+v %v", s, tag, tag.String(), again, ok)
		}
		if !strings.EqualFold(tag.String(), s) {
			t.Fatalf("%q written back as %q", s, tag.String())
		}
		if r := k.Verify(s, day0); r.Status == Untagged {
			t.Fatalf("Verify(%q) says untagged after Parse accepted it", s)
		}
	})
}
