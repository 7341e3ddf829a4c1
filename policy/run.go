package policy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
)

// Transaction is what one SMTP transaction tells the engine, all at once:
// `spoofguard check` and the tests build one from a saved message.
type Transaction struct {
	Client   Client
	MailFrom string // without <>; "" is the null sender
	AuthUser string
	Rcpts    []string
	Message  io.Reader // the message as received: header fields, empty line, body
}

// Run drives a Message through the stages in the order an MTA would, with
// the same methods the daemon calls, and stops where the daemon's reply
// would end the transaction: an enforced reject or tempfail, or every
// recipient refused. The returned stage is where the decision was made
// (StageBody when the message ran to its end).
func (e *Engine) Run(ctx context.Context, tx Transaction) (*Message, Stage, error) {
	m, v := e.Begin(ctx, tx.Client, tx.MailFrom, tx.AuthUser)
	if v.EndsTransaction() {
		return m, StageMailFrom, nil
	}
	accepted := 0
	for _, r := range tx.Rcpts {
		if v := m.Rcpt(r); !v.EndsTransaction() {
			accepted++
		}
	}
	if accepted == 0 && len(tx.Rcpts) > 0 {
		return m, StageRcpt, nil
	}
	br := bufio.NewReaderSize(tx.Message, 64<<10)
	leftover, err := ReadHeaders(br, m.Header)
	if err != nil {
		m.Abort()
		return m, 0, err
	}
	if v := m.EndOfHeaders(ctx); v.EndsTransaction() {
		m.Abort()
		return m, StageHeaders, nil
	}
	if err := feedBody(io.MultiReader(bytes.NewReader(leftover), br), m.Body); err != nil {
		m.Abort()
		return m, 0, err
	}
	m.EndOfBody(ctx)
	return m, StageBody, nil
}

// ReadHeaders splits the header block of a saved message into fields and
// hands each to add with its name as written and its raw value:
// everything after the colon, folding included, as a milter receives it
// with leading space preserved. A line that is not a header field (a
// field name is printable ASCII without spaces, RFC 5322 §3.6.8, which
// the obsolete syntax may follow with white space before the colon,
// §4.5) ends the header block, as it does for an MTA, and is returned as
// the start of the body. Engine.Run and
// `spoofguard check` read headers with it, so both see the same fields.
func ReadHeaders(r *bufio.Reader, add func(name, value string)) (leftover []byte, err error) {
	var name string
	var value []byte
	have := false
	flush := func() {
		if have {
			add(name, string(bytes.TrimRight(value, "\r\n")))
		}
		have = false
	}
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// An absurdly long line: keep it, in pieces. The first piece
			// lives in the reader's buffer, which the next read reuses,
			// so it is copied first.
			head := append([]byte(nil), line...)
			rest, err2 := r.ReadBytes('\n')
			line, err = append(head, rest...), err2
		}
		if len(line) == 0 && err != nil {
			flush()
			if err == io.EOF {
				return nil, nil
			}
			return nil, err
		}
		switch {
		case len(bytes.TrimRight(line, "\r\n")) == 0:
			flush()
			return nil, nil
		case line[0] == ' ' || line[0] == '\t':
			if have {
				value = append(value, line...)
				continue
			}
		}
		i := fieldNameEnd(line)
		if i < 0 {
			// Not a header field: the body starts here without an empty
			// line.
			flush()
			return append([]byte(nil), line...), nil
		}
		flush()
		name, value, have = string(line[:i]), append(value[:0], line[i+1:]...), true
		if err != nil {
			flush()
			if err == io.EOF {
				return nil, nil
			}
			return nil, err // a read error is not the end of the message
		}
	}
}

// fieldNameEnd returns the index of the colon that ends a field name at
// the start of line, or -1 when the line does not start with one. White
// space may stand between the name and the colon (RFC 5322 §4.5), not
// inside the name.
func fieldNameEnd(line []byte) int {
	name := 0
	for i, c := range line {
		switch {
		case c == ':':
			if name == 0 {
				return -1
			}
			return i
		case c == ' ' || c == '\t':
			if name == 0 {
				return -1
			}
		case c < ' ' || c > '~' || name < i:
			// A control byte, or a name that goes on after white space.
			return -1
		default:
			name = i + 1
		}
	}
	return -1
}

// feedBody passes the body on in chunks of at most 64 KB with CRLF line
// ends (saved messages often have bare LF; DKIM is defined on CRLF).
func feedBody(r io.Reader, body func([]byte)) error {
	buf := make([]byte, 0, 64<<10+1)
	prevCR := false
	chunk := make([]byte, 32<<10)
	for {
		n, err := r.Read(chunk)
		for _, c := range chunk[:n] {
			if c == '\n' && !prevCR {
				buf = append(buf, '\r')
			}
			buf = append(buf, c)
			prevCR = c == '\r'
		}
		if len(buf) >= 32<<10 {
			body(buf)
			buf = buf[:0]
		}
		if err == io.EOF {
			if len(buf) > 0 {
				body(buf)
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}
