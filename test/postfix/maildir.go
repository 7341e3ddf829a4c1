package postfix

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Field is one header field of a delivered message, unfolded.
type Field struct {
	Name  string
	Value string
}

// Delivered is a message as the virtual delivery agent wrote it into a
// Maildir, headers in their order from the top (Return-Path and
// Delivered-To first, then Postfix's own Received header, ...).
type Delivered struct {
	Path   string
	Raw    []byte
	Fields []Field
}

// Values returns the values of every field called name (case-insensitive),
// top to bottom.
func (d *Delivered) Values(name string) []string {
	var out []string
	for _, f := range d.Fields {
		if strings.EqualFold(f.Name, name) {
			out = append(out, f.Value)
		}
	}
	return out
}

// Get returns the value of the topmost field called name, or "".
func (d *Delivered) Get(name string) string {
	if v := d.Values(name); len(v) > 0 {
		return v[0]
	}
	return ""
}

// HeaderText is the header block as delivered, for failure messages.
func (d *Delivered) HeaderText() string {
	head, _, _ := splitHeader(d.Raw)
	return string(head)
}

// WaitDelivered waits until a message with the given Message-ID (with or
// without angle brackets) is in one of the instance's Maildirs and returns
// it. It fails the test if none arrives within timeout.
func (p *Instance) WaitDelivered(t testing.TB, messageID string, timeout time.Duration) *Delivered {
	t.Helper()
	return Maildirs(p.MailDir).WaitDelivered(t, messageID, timeout)
}

// FindDelivered reports whether the message is in a Maildir now.
func (p *Instance) FindDelivered(t testing.TB, messageID string) *Delivered {
	t.Helper()
	return Maildirs(p.MailDir).FindDelivered(t, messageID)
}

// Maildirs is a folder with one Maildir per domain (DOMAIN/new, cur), as
// the test instances of every MTA deliver into.
type Maildirs string

// WaitDelivered waits until a message with the given Message-ID is in one
// of the Maildirs and returns it; it fails the test after timeout.
func (base Maildirs) WaitDelivered(t testing.TB, messageID string, timeout time.Duration) *Delivered {
	t.Helper()
	var d *Delivered
	var err error
	ok := poll(timeout, func() bool {
		d, err = FindMessage(string(base), messageID)
		return d != nil || err != nil
	})
	switch {
	case err != nil:
		t.Fatalf("reading Maildirs: %v", err)
	case !ok:
		t.Fatalf("message %s not delivered within %v", messageID, timeout)
	}
	return d
}

// FindDelivered returns the message if it is in a Maildir now, or nil.
func (base Maildirs) FindDelivered(t testing.TB, messageID string) *Delivered {
	t.Helper()
	d, err := FindMessage(string(base), messageID)
	if err != nil {
		t.Fatalf("reading Maildirs: %v", err)
	}
	return d
}

// FindMessage looks through every Maildir under base (base/DOMAIN/new and
// cur) for the message with the given Message-ID; nil when there is none.
func FindMessage(base, messageID string) (*Delivered, error) {
	want := trimAngles(messageID)
	var paths []string
	for _, sub := range []string{"new", "cur"} {
		m, err := filepath.Glob(filepath.Join(base, "*", sub, "*"))
		if err != nil {
			return nil, err
		}
		paths = append(paths, m...)
	}
	for _, path := range paths {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		d, err := ParseDelivered(path, raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		if trimAngles(d.Get("Message-ID")) == want {
			return d, nil
		}
	}
	return nil, nil
}

// ParseDelivered splits a stored message into its header fields.
func ParseDelivered(path string, raw []byte) (*Delivered, error) {
	head, _, ok := splitHeader(raw)
	if !ok {
		return nil, fmt.Errorf("no end of header")
	}
	d := &Delivered{Path: path, Raw: raw}
	for _, line := range strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n") {
		switch {
		case line == "":
		case line[0] == ' ' || line[0] == '\t':
			if len(d.Fields) == 0 {
				return nil, fmt.Errorf("continuation line before the first field")
			}
			d.Fields[len(d.Fields)-1].Value += " " + strings.TrimSpace(line)
		default:
			name, value, found := strings.Cut(line, ":")
			if !found {
				return nil, fmt.Errorf("header line without a colon: %q", line)
			}
			d.Fields = append(d.Fields, Field{Name: name, Value: strings.TrimSpace(value)})
		}
	}
	return d, nil
}

// splitHeader cuts a message at the empty line after the header.
func splitHeader(raw []byte) (head, body []byte, ok bool) {
	cut, sep := -1, 0
	for _, s := range []string{"\r\n\r\n", "\n\n"} {
		if i := bytes.Index(raw, []byte(s)); i >= 0 && (cut < 0 || i < cut) {
			cut, sep = i, len(s)
		}
	}
	if cut < 0 {
		return raw, nil, false
	}
	return raw[:cut+sep/2], raw[cut+sep:], true
}

func trimAngles(id string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(id), "<"), ">")
}
