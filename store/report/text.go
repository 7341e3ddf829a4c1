package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// timeFormat is minute precision in UTC: enough to find the log lines.
const timeFormat = "2006-01-02 15:04"

// WriteJSON writes the report for scripts.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteText writes the report for people: per domain its senders, the
// legitimate-looking ones enforce mode would refuse with their fixes,
// and the forgeries by door.
func (rep *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	since := "the first record"
	if !rep.Since.IsZero() {
		since = rep.Since.Format(timeFormat)
	}
	fmt.Fprintf(tw, "Decisions from %s to %s UTC: %d records.\n", since, rep.Until.Format(timeFormat), rep.Records)
	if len(rep.Domains) == 0 {
		fmt.Fprintln(tw, "No mail named a protected domain in this period.")
	}
	for _, d := range rep.Domains {
		d.writeText(tw)
	}
	return tw.Flush()
}

func (d *Domain) writeText(w io.Writer) {
	fmt.Fprintf(w, "\n== %s: %d messages\n\nSenders\n", d.Name, d.Messages)
	fmt.Fprintln(w, "  SOURCE\tCOUNT\tFIRST\tLAST\tSPF\tVERDICT")
	for _, g := range d.Senders {
		label := g.Label()
		if g.Sender != "" {
			label += " [sender " + g.Sender + "]"
		}
		fmt.Fprintf(w, "  %s\t%d\t%s\t%s\t%s\t%s\n", label, g.Count, utc(g.First), utc(g.Last), g.SPF, verdicts(g))
	}
	fmt.Fprintln(w, "\nLooks legitimate, refused in enforce mode (any one step is enough)")
	if len(d.Fixes) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, f := range d.Fixes {
		fmt.Fprintf(w, "  %s: %d messages, %s\n", f.Group, f.Count, f.Why)
		for _, s := range f.Steps {
			fmt.Fprintf(w, "    - %s\n", s)
		}
		fmt.Fprintf(w, "      (senders goes in the [[domain]] table with name = %q)\n", d.Name)
	}
	d.writeForgeries(w)
}

func (d *Domain) writeForgeries(w io.Writer) {
	fmt.Fprintln(w, "\nForgeries refused (in report-only mode: that enforce mode refuses)")
	if len(d.Forgeries) == 0 {
		fmt.Fprintln(w, "  none")
		return
	}
	fmt.Fprintln(w, "  DOOR\tCOUNT\tTOP SOURCES")
	for _, door := range d.Forgeries {
		top := make([]string, len(door.Top))
		for i, s := range door.Top {
			top[i] = fmt.Sprintf("%s (%d)", s.Source, s.Count)
		}
		fmt.Fprintf(w, "  %s\t%d\t%s\n", door.Door, door.Count, strings.Join(top, ", "))
	}
}

// String is "pass 20, fail 3", the most frequent first.
func (c Counts) String() string {
	keys := c.Sorted()
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, c[k])
	}
	return strings.Join(parts, ", ")
}

// verdicts is what the group got and, in report-only mode, would get.
func verdicts(g *Group) string {
	s := g.Given.String()
	if len(g.Would) > 0 {
		s += " (would " + g.Would.String() + ")"
	}
	return s
}

func utc(t time.Time) string { return t.UTC().Format(timeFormat) }
