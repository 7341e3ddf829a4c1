package bounce

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"strings"
)

// Returned is the message a bounce returns, as far as the bounce holds it.
type Returned struct {
	Message     []byte // header block and, unless HeadersOnly, the body
	HeadersOnly bool   // a text/rfc822-headers part: the body was left out
}

// ErrNoOriginal is returned when the bounce holds no returned message.
var ErrNoOriginal = errors.New("the bounce returns no message")

// maxDepth bounds the nesting of multiparts walked: DSNs nest one level
// (Exchange wraps the report in multipart/mixed at times); a deeper tree
// is not a bounce worth reading.
const maxDepth = 4

// Original finds the returned message in a bounce: the message/rfc822
// (RFC 3464 §2: the third part of the report) or message/global part, or
// the text/rfc822-headers part when the reporting MTA returned headers
// only. contentType is the bounce's Content-Type field, body its whole
// body. An error means the part is not there or could not be read whole.
func Original(contentType string, body []byte) (Returned, error) {
	return walk(contentType, bytes.NewReader(body), 0)
}

func walk(contentType string, r io.Reader, depth int) (Returned, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" || depth >= maxDepth {
		return Returned{}, ErrNoOriginal
	}
	mr := multipart.NewReader(r, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err != nil {
			return Returned{}, ErrNoOriginal
		}
		if ret, err := readPart(p, depth); !errors.Is(err, ErrNoOriginal) {
			return ret, err
		}
	}
}

// readPart returns the returned message when p is (or holds) it, and
// ErrNoOriginal when p is another part.
func readPart(p *multipart.Part, depth int) (Returned, error) {
	ct := p.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	switch mt {
	case "message/rfc822", "message/global": // RFC 6532 §3.7
		b, err := io.ReadAll(p)
		return Returned{Message: b}, err
	case "text/rfc822-headers", "message/global-headers": // RFC 6522 §4, RFC 6533
		b, err := io.ReadAll(p)
		return Returned{Message: b, HeadersOnly: true}, err
	}
	if strings.HasPrefix(mt, "multipart/") {
		return walk(ct, p, depth+1)
	}
	return Returned{}, ErrNoOriginal
}
