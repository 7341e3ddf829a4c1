package explain

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
)

// field is one header field of a saved message: the name as written and
// the raw value after the colon, folding included.
type field struct {
	name, value string
}

// maxHeaderBlock bounds the part of a message read into memory to find
// the SMTP facts. Real header blocks are a few kilobytes; the engine still
// reads the whole message, whatever its size, as a stream.
const maxHeaderBlock = 1 << 20

// readHeaderBlock reads the header block of a message from r: the lines up
// to and including the empty line that ends it (or up to the first line
// that cannot be a header field, where an MTA would start the body too).
// The bytes read are returned so that they can be handed on, unchanged,
// with the rest of the message. A block longer than maxHeaderBlock is an
// error: no MTA would have accepted it.
func readHeaderBlock(r *bufio.Reader) ([]byte, error) {
	var block []byte
	start := 0 // where the current line begins in block
	for {
		chunk, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			err = nil // a long line, read on in pieces
		}
		block = append(block, chunk...)
		if len(block) > maxHeaderBlock {
			return nil, errors.New("the header block is larger than 1 MiB; this is not a message an MTA would accept")
		}
		if err == io.EOF {
			return block, nil
		}
		if err != nil {
			return nil, err
		}
		if block[len(block)-1] != '\n' {
			continue
		}
		if endsBlock(block[start:]) {
			return block, nil
		}
		start = len(block)
	}
}

// endsBlock reports whether a complete line ends the header block: it is
// empty, or it is neither a continuation nor "name:" (RFC 5322 §2.2).
func endsBlock(line []byte) bool {
	t := bytes.TrimRight(line, "\r\n")
	if len(t) == 0 {
		return true
	}
	if t[0] == ' ' || t[0] == '\t' {
		return false
	}
	return fieldNameEnd(t) < 0
}

// fieldNameEnd returns the index of the colon that ends a field name at
// the start of line, or -1. A field name is printable ASCII without
// spaces or colons (RFC 5322 §3.6.8).
func fieldNameEnd(line []byte) int {
	for i, c := range line {
		switch {
		case c == ':':
			if i == 0 {
				return -1
			}
			return i
		case c <= ' ' || c > '~':
			return -1
		}
	}
	return -1
}

// parseFields splits a header block into its fields, in order. A line
// that is neither a field nor a continuation ends the block, as it does
// for the MTA; continuation lines before the first field are dropped.
func parseFields(block []byte) []field {
	var out []field
	for len(block) > 0 {
		var line []byte
		if i := bytes.IndexByte(block, '\n'); i >= 0 {
			line, block = block[:i+1], block[i+1:]
		} else {
			line, block = block, nil
		}
		t := bytes.TrimRight(line, "\r\n")
		switch {
		case len(t) == 0:
			return out
		case t[0] == ' ' || t[0] == '\t':
			if n := len(out); n > 0 {
				out[n-1].value += "\n" + string(t)
			}
			continue
		}
		i := fieldNameEnd(t)
		if i < 0 {
			return out
		}
		out = append(out, field{name: string(t[:i]), value: string(t[i+1:])})
	}
	return out
}

// values returns the values of every field called name, topmost first.
func values(fields []field, name string) []string {
	var out []string
	for _, f := range fields {
		if strings.EqualFold(f.name, name) {
			out = append(out, f.value)
		}
	}
	return out
}

// unfold joins a folded value onto one line (RFC 5322 §2.2.3), with
// each run of white space made one space, for reading.
func unfold(v string) string {
	return strings.Join(strings.Fields(v), " ")
}
