package audit

import (
	"fmt"
	"io"
)

// WriteText writes the report for a reader: the configuration first, then
// each domain, each finding on one line with its advice beneath, and the
// counts at the end.
func (r *Report) WriteText(w io.Writer) error {
	t := &textWriter{w: w}
	t.line("Configuration")
	t.findings(r.Config)
	for _, d := range r.Domains {
		t.line("")
		head := d.Name + ": not a protected domain"
		switch {
		case d.Protected && d.Via != "":
			head = d.Name + ": protected, inbound only through relay " + quote(d.Via)
		case d.Protected:
			head = d.Name + ": protected, edge MX"
		}
		t.line("%s", head)
		t.findings(d.Findings)
	}
	t.line("")
	t.line("Summary: %d PASS, %d WARN, %d FAIL", r.Summary.Pass, r.Summary.Warn, r.Summary.Fail)
	return t.err
}

// textWriter remembers the first write error.
type textWriter struct {
	w   io.Writer
	err error
}

func (t *textWriter) line(format string, args ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, format+"\n", args...)
	}
}

func (t *textWriter) findings(fs []Finding) {
	for _, f := range fs {
		t.line("  %s  %-17s %s", f.Status, f.Check, f.Detail)
		if f.Advice != "" {
			t.line("  %-4s  %-17s → %s", "", "", f.Advice)
		}
	}
}
