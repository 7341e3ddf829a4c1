package received

import (
	"testing"
	"time"
)

func TestParseDate(t *testing.T) {
	test := func(in string, want time.Time) {
		t.Helper()
		got := parseDate(in)
		_, gotOff := got.Zone()
		_, wantOff := want.Zone()
		if !got.Equal(want) || gotOff != wantOff {
			t.Errorf("parseDate(%q) = %v, want %v", in, got, want)
		}
	}
	// RFC 5322 §3.3 and the forms MTAs write.
	test("Tue,  3 Sep 2024 10:00:00 +0200 (CEST)", when(2024, 9, 3, 10, 0, 0, 2))
	test(" Tue, 03 Sep 2024 01:02:03 -0700 (PDT)", when(2024, 9, 3, 1, 2, 3, -7))
	test("3 Sep 2024 08:00:00 -0000", when(2024, 9, 3, 8, 0, 0, 0))
	test("\r\n\tMon, 10 Jun 2024 10:31:26 -0500 (CDT)", when(2024, 6, 10, 10, 31, 26, -5))
	test("Tue, 3 Sep 2024 10:00:00 +0530", when(2024, 9, 3, 10, 0, 0, 5.5))
	test("tue, 3 sep 2024 10:00:00 +0000", when(2024, 9, 3, 10, 0, 0, 0))
	test("Tue, 3 Sep 2024 10:00 +0100", when(2024, 9, 3, 10, 0, 0, 1))
	test("Sat, 31 Dec 2016 23:59:60 +0000", when(2016, 12, 31, 23, 59, 59, 0))
	test("(received) Tue, 3 Sep 2024 10:00:00 +0200 (CEST (summer))", when(2024, 9, 3, 10, 0, 0, 2))
	test("Tue, 3 Sep 2024 10:00:00 +0200 (escaped \\) paren)", when(2024, 9, 3, 10, 0, 0, 2))
	// RFC 5322 §4.3 obsolete forms.
	test("Tue , 3 Sep 2024 10 : 00 : 00 +0200", when(2024, 9, 3, 10, 0, 0, 2))
	test("Wed, 17 Mar 2004 02:12:31 GMT", when(2004, 3, 17, 2, 12, 31, 0))
	test("Wed, 17 Mar 2004 02:12:31 UT", when(2004, 3, 17, 2, 12, 31, 0))
	test("Thu, 20 Nov 1997 09:55:06 MDT", when(1997, 11, 20, 9, 55, 6, -6))
	test("Thu, 20 Nov 97 09:55:06 est", when(1997, 11, 20, 9, 55, 6, -5))
	test("1 Jan 05 00:00:00 PST", when(2005, 1, 1, 0, 0, 0, -8))
	test("1 Jan 105 00:00:00 +0000", when(2005, 1, 1, 0, 0, 0, 0))
	test("Tue, 3 Sep 2024 10:00:00 CEST", when(2024, 9, 3, 10, 0, 0, 0))
	test("Tue, 3 Sep 2024 10:00:00 Z", when(2024, 9, 3, 10, 0, 0, 0))
	// Anything else is the zero time.
	zero := time.Time{}
	for _, in := range []string{
		"", " ", "yesterday at noon", "(only a comment)",
		"Tue 3 Sep 2024 10:00:00 +0200",      // no comma after the day name
		"Foo, 3 Sep 2024 10:00:00 +0200",     // no such day
		"3 Sept 2024 10:00:00 +0200",         // no such month
		"31 Feb 2024 10:00:00 +0000",         // no such day of the month
		"0 Sep 2024 10:00:00 +0000",          // nor this
		"3 Sep 2024 24:00:00 +0000",          // hour
		"3 Sep 2024 10:60:00 +0000",          // minute
		"3 Sep 2024 10:00:61 +0000",          // second
		"3 Sep 2024 10:0:00 +0000",           // one-digit minute
		"3 Sep 2024 10:00:00 +2400",          // zone hours
		"3 Sep 2024 10:00:00 +0260",          // zone minutes
		"3 Sep 2024 10:00:00 +020",           // short zone
		"3 Sep 2024 10:00:00",                // no zone
		"3 Sep 2024 10:00:00 ABCDEF",         // zone name too long
		"3 Sep 2024 10:00:00 +0200 trailing", // text after the zone
		"3 Sep 2024 10:00:00 +0200 (open",    // unterminated comment
		"3 Sep 2 10:00:00 +0200",             // one-digit year
		"123 Sep 2024 10:00:00 +0200",        // three-digit day
		"3 Sep 2024 10:00:00 +0200 ;",        // a second date separator
	} {
		test(in, zero)
	}
}
