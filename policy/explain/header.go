package explain

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"

	"github.com/spoofguard/spoofguard/policy"
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

// readFields reads the header fields of a saved message with the engine's
// own reader (policy.ReadHeaders), so that check takes its facts from
// exactly the fields Engine.Run will see. It returns them and the whole
// message again, the bytes already read followed by the rest, to be
// handed on unchanged. A header block over maxHeaderBlock is an error: no
// MTA would have accepted it.
func readFields(msg io.Reader) ([]field, io.Reader, error) {
	rec := &recorder{r: msg}
	br := bufio.NewReaderSize(rec, readAhead)
	var fields []field
	_, err := policy.ReadHeaders(br, func(name, value string) {
		fields = append(fields, field{name: name, value: value})
	})
	if err != nil {
		return nil, nil, err
	}
	if len(rec.read)-br.Buffered() > maxHeaderBlock {
		return nil, nil, errHeaderTooLarge
	}
	return fields, io.MultiReader(bytes.NewReader(rec.read), msg), nil
}

// readAhead is the buffer readFields reads the message through.
const readAhead = 64 << 10

// recorder keeps what is read through it, up to the header block's
// bound (plus the reader's look-ahead).
type recorder struct {
	r    io.Reader
	read []byte
}

var errHeaderTooLarge = errors.New("the header block is larger than 1 MiB; this is not a message an MTA would accept")

func (c *recorder) Read(p []byte) (int, error) {
	if len(c.read) > maxHeaderBlock+readAhead {
		return 0, errHeaderTooLarge
	}
	n, err := c.r.Read(p)
	c.read = append(c.read, p[:n]...)
	return n, err
}

// values returns the values of every field called name, topmost first,
// matching names as the engine does (policy.FieldName).
func values(fields []field, name string) []string {
	var out []string
	for _, f := range fields {
		if strings.EqualFold(policy.FieldName(f.name), name) {
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
