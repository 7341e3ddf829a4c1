package received

import (
	"errors"
	"strconv"
)

// The reasons a Received header cannot give a hop. Test with errors.Is;
// every error Parse returns is an *Error wrapping one of these.
var (
	// ErrTooLong: the value is longer than MaxLength.
	ErrTooLong = errors.New("received: header too long")
	// ErrMalformed: the value breaks the lexical rules: an unterminated
	// comment, literal or quoted string, an unbalanced delimiter, a control
	// character or invalid UTF-8.
	ErrMalformed = errors.New("received: malformed header")
	// ErrNoFrom: the value has no "from" clause, so it names no client
	// (an empty value, a local submission, a header that starts with "by").
	ErrNoFrom = errors.New("received: no from clause")
	// ErrNoIP: the from clause names no client IP address.
	ErrNoIP = errors.New("received: no client IP address")
	// ErrBadIP: the place where the client address belongs holds something
	// that is not a usable IP address, such as [999.1.1.1] or an address
	// with an IPv6 zone.
	ErrBadIP = errors.New("received: invalid client IP address")
	// ErrAmbiguous: client text could have produced the header in more
	// than one way, so which address the receiver wrote cannot be told:
	// more than one place in the from clause holds an address, or text
	// after the clauses poses as another from or by clause.
	ErrAmbiguous = errors.New("received: ambiguous client address")
)

// Error says why a Received header could not be parsed and where.
type Error struct {
	Err    error  // one of the Err* sentinels above
	Offset int    // byte offset in the value where the problem was found
	Detail string // what was found there, quoted and shortened for logs
}

func (e *Error) Error() string {
	s := e.Err.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s + " at offset " + strconv.Itoa(e.Offset)
}

// Unwrap returns the sentinel, for errors.Is.
func (e *Error) Unwrap() error { return e.Err }

// maxDetail bounds the header text copied into an error: the text comes
// from the sender and ends up in logs.
const maxDetail = 64

func newError(sentinel error, offset int, detail string) *Error {
	return &Error{Err: sentinel, Offset: offset, Detail: detail}
}

// quoteDetail makes header text safe to log: quoted, escaped, shortened.
func quoteDetail(s string) string {
	if len(s) > maxDetail {
		return strconv.Quote(s[:maxDetail]) + "..."
	}
	return strconv.Quote(s)
}

func malformed(offset int, why string) *Error {
	return newError(ErrMalformed, offset, why)
}
