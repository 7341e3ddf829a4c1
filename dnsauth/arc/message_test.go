package arc

import (
	"bytes"
	"context"
	"time"

	"github.com/spoofguard/spoofguard/dnsauth"
)

// Verify validates the chain of a whole message (header block, empty
// line, body; CRLF or LF line ends) through the same streaming path.
func Verify(ctx context.Context, dns dnsauth.DNS, msg []byte, now time.Time) Result {
	v := NewVerifier(ctx, dns, now)
	fields, body := splitMessage(msg)
	for _, f := range fields {
		v.Header(f.name, f.value)
	}
	v.EndOfHeaders()
	v.Body(body)
	return v.Close()
}

// splitMessage cuts a message into its header fields, as an MTA passes
// them to a milter (the value keeps its folding, line breaks as written),
// and its body. A line that is neither a field nor a continuation is
// dropped, as it can be neither an ARC field nor signed.
func splitMessage(msg []byte) ([]field, []byte) {
	var fields []field
	cur, from, to := -1, 0, 0 // the field being read and its value's span
	end := func() {
		if cur >= 0 {
			fields[cur].value = string(msg[from:to])
		}
	}
	for pos := 0; pos < len(msg); {
		eol := bytes.IndexByte(msg[pos:], '\n')
		next := len(msg)
		if eol >= 0 {
			next = pos + eol + 1
		}
		line := bytes.TrimSuffix(bytes.TrimSuffix(msg[pos:next], []byte{'\n'}), []byte{'\r'})
		switch {
		case len(line) == 0:
			end()
			return fields, msg[next:] // the empty line ends the header block
		case line[0] == ' ' || line[0] == '\t':
			to = pos + len(line) // a continuation of cur, if any
		default:
			end()
			cur = -1
			if colon := bytes.IndexByte(line, ':'); colon >= 0 {
				fields = append(fields, field{name: string(line[:colon])})
				cur, from, to = len(fields)-1, pos+colon+1, pos+len(line)
			}
		}
		pos = next
	}
	end()
	return fields, nil
}
