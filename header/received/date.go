package received

import (
	"strings"
	"time"
)

// parseDate reads the date-time after the last ";" (RFC 5322 §3.3), with
// the obsolete forms of §4.3 that MTAs still write: two-digit years,
// alphabetic zones, comments such as "(CEST)" anywhere white space may be.
// It returns the zero time for anything else; the date is informational,
// so an unreadable one does not fail the header.
func parseDate(s string) time.Time {
	d := dateLexer{s: s}
	d.cfws()
	if w := d.alpha(); w != "" { // day-of-week, whose value is not checked
		if !isWeekday(w) || !d.byte(',') {
			return time.Time{}
		}
	}
	day := d.number(1, 2)
	month := monthOf(d.alpha())
	year := d.year()
	hour := d.number(1, 2)
	min, sec := -1, 0
	if d.byte(':') {
		min = d.number(2, 2)
		if d.byte(':') {
			sec = d.number(2, 2)
		}
	}
	loc, ok := d.zone()
	d.cfws()
	if !ok || d.failed || d.pos != len(d.s) || month == 0 || hour > 23 || min < 0 || min > 59 || sec > 60 {
		return time.Time{}
	}
	if sec == 60 {
		sec = 59 // a leap second; time.Date would roll it into the next day
	}
	t := time.Date(year, month, day, hour, min, sec, 0, loc)
	if t.Day() != day { // "31 Feb" would roll over
		return time.Time{}
	}
	return t
}

// dateLexer reads a date-time left to right; failed sticks once any item
// is missing, so the caller checks once at the end.
type dateLexer struct {
	s      string
	pos    int
	failed bool
}

// cfws skips white space and comments, nested or not (RFC 5322 §3.2.2).
func (d *dateLexer) cfws() {
	depth := 0
	for ; d.pos < len(d.s); d.pos++ {
		switch c := d.s[d.pos]; {
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case c == '\\' && depth > 0:
			d.pos++
		case depth == 0 && !isSpace(c):
			return
		}
	}
	if depth > 0 {
		d.failed = true
	}
}

// byte consumes c, with CFWS around it.
func (d *dateLexer) byte(c byte) bool {
	d.cfws()
	if d.pos < len(d.s) && d.s[d.pos] == c {
		d.pos++
		d.cfws()
		return true
	}
	return false
}

// alpha returns the run of ASCII letters at pos, then skips CFWS.
func (d *dateLexer) alpha() string {
	start := d.pos
	for d.pos < len(d.s) && (d.s[d.pos]|0x20 >= 'a' && d.s[d.pos]|0x20 <= 'z') {
		d.pos++
	}
	w := d.s[start:d.pos]
	d.cfws()
	return w
}

// number reads min to max digits, then skips CFWS.
func (d *dateLexer) number(min, max int) int {
	n, digits := d.digits(max)
	if digits < min {
		d.failed = true
	}
	d.cfws()
	return n
}

func (d *dateLexer) digits(max int) (n, count int) {
	for d.pos < len(d.s) && count < max && d.s[d.pos] >= '0' && d.s[d.pos] <= '9' {
		n = n*10 + int(d.s[d.pos]-'0')
		d.pos++
		count++
	}
	return n, count
}

// year reads a four-digit year, or an obsolete two- or three-digit one
// (RFC 5322 §4.3: add 2000 below 50, else 1900).
func (d *dateLexer) year() int {
	y, count := d.digits(4)
	d.cfws()
	switch {
	case count == 4:
		return y
	case count == 3:
		return y + 1900
	case count == 2 && y < 50:
		return y + 2000
	case count == 2:
		return y + 1900
	}
	d.failed = true
	return 0
}

// zone reads "+hhmm" / "-hhmm" or an obsolete alphabetic zone. "-0000",
// UT, GMT and unknown names mean UTC (RFC 5322 §3.3 and §4.3).
func (d *dateLexer) zone() (*time.Location, bool) {
	if d.pos < len(d.s) && (d.s[d.pos] == '+' || d.s[d.pos] == '-') {
		sign := 1
		if d.s[d.pos] == '-' {
			sign = -1
		}
		d.pos++
		hhmm, count := d.digits(4)
		if count != 4 || hhmm/100 > 23 || hhmm%100 > 59 {
			return nil, false
		}
		offset := sign * (hhmm/100*3600 + hhmm%100*60)
		if offset == 0 {
			return time.UTC, true
		}
		return time.FixedZone("", offset), true
	}
	name := d.alpha()
	if name == "" || len(name) > 5 {
		return nil, false
	}
	if h, ok := usZone(name); ok {
		return time.FixedZone("", h*3600), true
	}
	return time.UTC, true
}

// usZone returns the offset in hours of the North American zones RFC 5322
// §4.3 defines.
func usZone(name string) (int, bool) {
	for _, z := range [...]struct {
		name  string
		hours int
	}{
		{"EST", -5}, {"EDT", -4}, {"CST", -6}, {"CDT", -5},
		{"MST", -7}, {"MDT", -6}, {"PST", -8}, {"PDT", -7},
	} {
		if strings.EqualFold(name, z.name) {
			return z.hours, true
		}
	}
	return 0, false
}

func isWeekday(w string) bool {
	for _, d := range [...]string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"} {
		if strings.EqualFold(w, d) {
			return true
		}
	}
	return false
}

func monthOf(w string) time.Month {
	for i, m := range [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"} {
		if strings.EqualFold(w, m) {
			return time.Month(i + 1)
		}
	}
	return 0
}
