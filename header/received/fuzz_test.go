package received

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse checks what must hold for any input: no panic; an error is an
// *Error wrapping a sentinel, with an offset inside the value and no Hop;
// a Hop has a usable, zone-less, unmapped address and fields taken from the
// value; folding the value does not change what it says.
func FuzzParse(f *testing.F) {
	for _, tc := range samples {
		f.Add(tc.in)
	}
	for _, tc := range badSamples {
		if len(tc.in) <= 1024 {
			f.Add(tc.in)
		}
	}
	f.Fuzz(func(t *testing.T, in string) {
		h, err := Parse(in)
		if err != nil {
			checkError(t, in, h, err)
			return
		}
		checkHop(t, in, h)
		if again, err := Parse(in); err != nil || !sameHop(again, h) {
			t.Fatalf("second Parse differs: %+v, %v", again, err)
		}
		checkFolded(t, in, h)
	})
}

var sentinels = []error{ErrTooLong, ErrMalformed, ErrNoFrom, ErrNoIP, ErrBadIP, ErrAmbiguous}

func checkError(t *testing.T, in string, h Hop, err error) {
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v is not an *Error", err, err)
	}
	known := false
	for _, s := range sentinels {
		known = known || e.Err == s
	}
	if !known || e.Offset < 0 || e.Offset > len(in) || len(e.Detail) > 2*maxDetail+16 {
		t.Fatalf("bad error %#v for %q", e, in)
	}
	if h != (Hop{}) {
		t.Fatalf("Hop %+v returned with error %v", h, err)
	}
}

func checkHop(t *testing.T, in string, h Hop) {
	if !h.IP.IsValid() || h.IP.Zone() != "" || h.IP.Is4In6() {
		t.Fatalf("unusable address %v from %q", h.IP, in)
	}
	for _, s := range []string{h.Helo, h.Host, h.By, h.ID, h.For} {
		if !strings.Contains(in, s) {
			t.Fatalf("field %q is not from the value %q", s, in)
		}
	}
	for _, w := range strings.Fields(h.With) {
		if !strings.Contains(in, w) {
			t.Fatalf("With %q is not from the value %q", h.With, in)
		}
	}
}

// checkFolded folds the value at every space, as a long header would be,
// and expects the same address, protocol, authentication and date.
func checkFolded(t *testing.T, in string, h Hop) {
	folded, err := parse(strings.ReplaceAll(in, " ", "\r\n "))
	if err != nil {
		t.Fatalf("folded value fails: %v", err)
	}
	if folded.IP != h.IP || folded.With != h.With || folded.Authenticated != h.Authenticated || !folded.Date.Equal(h.Date) {
		t.Fatalf("folding changed the hop:\n got %+v\nwant %+v", folded, h)
	}
}
