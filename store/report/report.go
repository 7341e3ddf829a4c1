// Package report reads the decision store and answers the question an
// administrator has before switching a protected domain from report-only
// to enforce: who sends as this domain, which of those senders look
// legitimate but would be refused, what exactly to change for each, and
// what forgeries were (or would be) refused, by the door they tried.
//
// Senders are grouped by source — the organisational domain of the
// client's reverse name when it has one, else its network (/24 for
// IPv4, /48 for IPv6) — and by the domain of a passing DKIM signature.
// A group "looks legitimate" when its mail comes from the servers of
// another organisation (the organisational domain of the client's
// reverse name) and carries a passing DKIM signature of that same
// organisation: how a service provider sends its customers' mail. Such
// mail fails the own-domain rules because nothing ties that proof to the
// protected domain; the fix is to tie it (sign with the protected
// domain, authorise the servers in SPF) or to name the sender in the
// domain's `senders` list. An SPF pass for the sender's own envelope
// domain is not taken as proof: a forger publishes SPF for a domain of
// its own as easily. Everything else that was, or would be, refused is
// counted as forgery, by door.
package report

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/spoofguard/spoofguard/store"
)

// Options select what the report covers.
type Options struct {
	Since  time.Time // records at or after (zero: all)
	Domain string    // one protected domain ("" : every one)
	Now    time.Time // the end of the period (zero: time.Now)
	// Progress, when set, receives a line now and then while a large
	// store is read.
	Progress      io.Writer
	ProgressEvery int // records between progress lines (default 100000)
}

// Report is what the store says about each protected domain.
type Report struct {
	Since   time.Time `json:"since"`
	Until   time.Time `json:"until"`
	Records int       `json:"records"`
	Domains []*Domain `json:"domains"`
}

// Domain is one protected domain's part of the report.
type Domain struct {
	Name      string   `json:"name"`
	Messages  int      `json:"messages"`
	Senders   []*Group `json:"senders"`
	Fixes     []*Fix   `json:"fixes"`
	Forgeries []*Door  `json:"forgeries"`

	groups map[groupKey]*Group
	doors  map[string]*Door
}

// Build reads the records the options select and makes the report.
func Build(ctx context.Context, st store.Store, o Options) (*Report, error) {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	rep := &Report{Since: o.Since.UTC(), Until: o.Now.UTC(), Domains: []*Domain{}}
	q := store.Query{Since: o.Since, Domain: o.Domain}
	prog, err := newProgress(ctx, st, q, o)
	if err != nil {
		return nil, err
	}
	domains := map[string]*Domain{}
	err = st.Scan(ctx, q, func(r *store.Record) error {
		rep.Records++
		prog.step(rep.Records)
		d := domains[r.Domain]
		if d == nil {
			d = &Domain{Name: r.Domain, groups: map[groupKey]*Group{}, doors: map[string]*Door{}}
			domains[r.Domain] = d
		}
		d.add(r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the store: %w", err)
	}
	prog.done(rep.Records)
	for _, d := range domains {
		d.finish()
		rep.Domains = append(rep.Domains, d)
	}
	sort.Slice(rep.Domains, func(i, j int) bool { return rep.Domains[i].Name < rep.Domains[j].Name })
	return rep, nil
}

// add counts one record: a message in its sender group; a refused
// recipient at its door only, since going around the inbound filter is
// refused whoever the sender is.
func (d *Domain) add(r *store.Record) {
	if r.Rcpt != "" {
		if r.WouldStop() {
			d.door(door(r.Rule)).add(source(r), 1)
		}
		return
	}
	d.Messages++
	d.group(r).add(r)
}

// finish decides, once every record is in, which groups look legitimate
// and which stopped records are forgeries, and sorts everything for
// reading: the largest groups and doors first.
func (d *Domain) finish() {
	d.Senders, d.Fixes, d.Forgeries = []*Group{}, []*Fix{}, []*Door{}
	for _, g := range d.groups {
		g.settle(d.Name)
		d.Senders = append(d.Senders, g)
		if g.Legitimate && g.WouldStop > 0 {
			d.Fixes = append(d.Fixes, fixFor(d.Name, g))
		}
		if !g.Legitimate {
			for name, n := range g.doors {
				d.door(name).add(g.Source, n)
			}
		}
	}
	sort.Slice(d.Senders, func(i, j int) bool { return d.Senders[i].less(d.Senders[j]) })
	sort.Slice(d.Fixes, func(i, j int) bool {
		return d.Fixes[i].Count > d.Fixes[j].Count ||
			d.Fixes[i].Count == d.Fixes[j].Count && d.Fixes[i].Group < d.Fixes[j].Group
	})
	for _, door := range d.doors {
		door.settle()
		d.Forgeries = append(d.Forgeries, door)
	}
	sort.Slice(d.Forgeries, func(i, j int) bool {
		return d.Forgeries[i].Count > d.Forgeries[j].Count ||
			d.Forgeries[i].Count == d.Forgeries[j].Count && d.Forgeries[i].Door < d.Forgeries[j].Door
	})
}
