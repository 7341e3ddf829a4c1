package report

import (
	"context"
	"fmt"
	"io"

	"github.com/spoofguard/spoofguard/store"
)

// defaultProgressEvery: below this many records a report takes a moment
// and says nothing while it reads.
const defaultProgressEvery = 100000

// progress prints "read N of M records" now and then while a large
// store is read, so that a long wait does not look like a hang.
type progress struct {
	w     io.Writer
	every int
	total int64
}

func newProgress(ctx context.Context, st store.Store, q store.Query, o Options) (*progress, error) {
	p := &progress{w: o.Progress, every: o.ProgressEvery}
	if p.every <= 0 {
		p.every = defaultProgressEvery
	}
	if p.w == nil {
		return p, nil
	}
	n, err := st.Count(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("counting the records: %w", err)
	}
	if n <= int64(p.every) {
		p.w = nil
	}
	p.total = n
	return p, nil
}

func (p *progress) step(n int) {
	if p.w != nil && n%p.every == 0 {
		fmt.Fprintf(p.w, "report: read %d of %d records (%d%%)\n", n, p.total, int64(n)*100/max(p.total, 1))
	}
}

func (p *progress) done(n int) {
	if p.w != nil {
		fmt.Fprintf(p.w, "report: read %d records\n", n)
	}
}
