package store

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// WriterOptions tune a Writer; zero values take the defaults.
type WriterOptions struct {
	Queue      int           // records waiting to be written (default 10000)
	Batch      int           // records per transaction at most (default 500)
	Flush      time.Duration // longest a record waits for its batch (default 1s)
	Timeout    time.Duration // one batch's insert, and one connection attempt (default 5s)
	Retry      time.Duration // wait before reconnecting after a failure (default 10s)
	Keep       time.Duration // retention (default 30 days)
	MaxRows    int64         // row cap, oldest dropped first (0: none)
	PruneEvery time.Duration // how often retention runs (default 10 minutes)
	LogEvery   time.Duration // at most one log line per interval about drops (default 1 minute)
}

func (o *WriterOptions) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.Queue <= 0 {
		o.Queue = 10000
	}
	if o.Batch <= 0 {
		o.Batch = 500
	}
	def(&o.Flush, time.Second)
	def(&o.Timeout, 5*time.Second)
	def(&o.Retry, 10*time.Second)
	def(&o.Keep, 30*24*time.Hour)
	def(&o.PruneEvery, 10*time.Minute)
	def(&o.LogEvery, time.Minute)
}

// WriterStats are a Writer's counters since it started.
type WriterStats struct {
	Written      uint64 // records committed to the store
	DroppedQueue uint64 // records dropped because the queue was full
	DroppedStore uint64 // records dropped because the store failed or was down
	Queued       int    // records waiting now
}

// Writer takes records from the mail flow and writes them in batches
// from one goroutine. Enqueue never blocks: the mail flow must not wait
// for a database.
type Writer struct {
	open func(context.Context) (Store, error)
	opts WriterOptions
	log  *slog.Logger

	queue chan Record
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once

	written, droppedQueue, droppedStore atomic.Uint64

	// owned by the goroutine
	store     Store
	downUntil time.Time
	lastLog   time.Time
	lastPrune time.Time
}

// NewWriter starts a writer that opens its store with open (again after
// each failure, no sooner than Retry) and logs problems to log.
func NewWriter(open func(context.Context) (Store, error), opts WriterOptions, log *slog.Logger) *Writer {
	opts.defaults()
	w := &Writer{open: open, opts: opts, log: log,
		queue: make(chan Record, opts.Queue), stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// Enqueue hands a record to the writer, or drops and counts it when the
// queue is full. It never blocks.
func (w *Writer) Enqueue(r Record) bool {
	select {
	case w.queue <- r:
		return true
	default:
		w.droppedQueue.Add(1)
		return false
	}
}

// Stats returns the counters.
func (w *Writer) Stats() WriterStats {
	return WriterStats{Written: w.written.Load(), DroppedQueue: w.droppedQueue.Load(),
		DroppedStore: w.droppedStore.Load(), Queued: len(w.queue)}
}

// Close writes what is queued (within ctx) and closes the store.
func (w *Writer) Close(ctx context.Context) error {
	w.once.Do(func() { close(w.stop) })
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *Writer) run() {
	defer close(w.done)
	defer w.closeStore()
	// Open (and migrate) at once, so that the schema is there before the
	// first record and a store that is down at start is logged at start.
	if _, err := w.connect(); err != nil {
		w.fail(err)
	}
	batch := make([]Record, 0, w.opts.Batch)
	tick := time.NewTicker(w.opts.Flush)
	defer tick.Stop()
	for {
		select {
		case r := <-w.queue:
			if batch = append(batch, r); len(batch) >= w.opts.Batch {
				batch = w.flush(batch)
			}
		case <-tick.C:
			batch = w.flush(batch)
			w.maybePrune()
		case <-w.stop:
			w.drain(batch)
			return
		}
	}
}

// drain writes what is left at Close: the batch in hand and the queue.
func (w *Writer) drain(batch []Record) {
	for {
		select {
		case r := <-w.queue:
			if batch = append(batch, r); len(batch) >= w.opts.Batch {
				batch = w.flush(batch)
			}
		default:
			w.flush(batch)
			return
		}
	}
}

// flush writes a batch, or drops and counts it when the store cannot be
// had or fails; it returns the emptied batch.
func (w *Writer) flush(batch []Record) []Record {
	if len(batch) == 0 {
		return batch
	}
	st, err := w.connect()
	if st != nil {
		ctx, cancel := context.WithTimeout(context.Background(), w.opts.Timeout)
		err = st.Insert(ctx, batch)
		cancel()
		if err == nil {
			w.written.Add(uint64(len(batch)))
			return batch[:0]
		}
	}
	w.droppedStore.Add(uint64(len(batch)))
	if err != nil {
		w.fail(err)
	} else {
		w.logDrop(nil)
	}
	return batch[:0]
}

// connect returns the open store, opening it when there is none and the
// retry delay since the last failure has passed; nil while it is down.
func (w *Writer) connect() (Store, error) {
	if w.store != nil || time.Now().Before(w.downUntil) {
		return w.store, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.opts.Timeout)
	defer cancel()
	st, err := w.open(ctx)
	if err != nil {
		return nil, err
	}
	w.store = st
	if !w.lastLog.IsZero() {
		w.log.Info("decision store reachable again", "written", w.written.Load())
	}
	return st, nil
}

// fail drops the connection after an error: the next attempt opens a
// new one, once the retry delay has passed.
func (w *Writer) fail(err error) {
	w.closeStore()
	w.downUntil = time.Now().Add(w.opts.Retry)
	w.logDrop(err)
}

func (w *Writer) closeStore() {
	if w.store != nil {
		w.store.Close()
		w.store = nil
	}
}

// logDrop logs a store problem at most once per LogEvery: a store that is
// down for an hour must not flood the log with one line per batch.
func (w *Writer) logDrop(err error) {
	now := time.Now()
	if !w.lastLog.IsZero() && now.Sub(w.lastLog) < w.opts.LogEvery {
		return
	}
	w.lastLog = now
	s := w.Stats()
	attrs := []any{"dropped_store", s.DroppedStore, "dropped_queue", s.DroppedQueue, "retry_in", w.opts.Retry.String()}
	if err != nil {
		attrs = append(attrs, "error", err.Error())
	}
	w.log.Warn("decision store unavailable: records are dropped, mail is not affected", attrs...)
}

// maybePrune applies retention and the row cap every PruneEvery, the
// first time as soon as the store is open.
func (w *Writer) maybePrune() {
	if w.store == nil || time.Since(w.lastPrune) < w.opts.PruneEvery {
		return
	}
	w.lastPrune = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*w.opts.Timeout)
	defer cancel()
	n, err := w.store.Prune(ctx, time.Now().Add(-w.opts.Keep), w.opts.MaxRows)
	if err != nil {
		w.fail(err)
		return
	}
	if n > 0 {
		w.log.Debug("decision store pruned", "records", n)
	}
}
