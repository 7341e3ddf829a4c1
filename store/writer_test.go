package store

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// logLines keeps the messages logged through it, for the writer's
// goroutine and the test to share.
type logLines struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logLines) Enabled(context.Context, slog.Level) bool { return true }

func (l *logLines) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}

func (l *logLines) WithAttrs([]slog.Attr) slog.Handler { return l }

func (l *logLines) WithGroup(string) slog.Handler { return l }

// String is the messages, one a line.
func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.msgs, "\n")
}

func testLog() (*slog.Logger, *logLines) {
	l := &logLines{}
	return slog.New(l), l
}

func closeW(t *testing.T, w *Writer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestWriterWrites(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			log, _ := testLog()
			w := NewWriter(func(ctx context.Context) (Store, error) { return Open(ctx, b.opts) },
				WriterOptions{Batch: 7, Flush: 10 * time.Millisecond}, log)
			for range 50 {
				if !w.Enqueue(sample(time.Now(), "example.org")) {
					t.Fatal("enqueue refused with room in the queue")
				}
			}
			closeW(t, w)
			if s := w.Stats(); s.Written != 50 || s.DroppedQueue+s.DroppedStore != 0 {
				t.Fatalf("stats %+v", s)
			}
			if n, _ := openT(t, b.opts).Count(context.Background(), Query{}); n != 50 {
				t.Fatalf("store holds %d, want 50", n)
			}
		})
	}
}

// slowStore blocks every insert until released: a store that hangs.
type slowStore struct {
	Store
	release chan struct{}
}

func (s *slowStore) Insert(ctx context.Context, _ []Record) error {
	select {
	case <-s.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *slowStore) Close() error { return nil }

// While the store hangs, Enqueue returns at once and drops what does not
// fit the queue; the hung batch is dropped when its insert times out.
func TestWriterFullQueueDropsWithoutBlocking(t *testing.T) {
	log, _ := testLog()
	slow := &slowStore{release: make(chan struct{})}
	w := NewWriter(func(context.Context) (Store, error) { return slow, nil },
		WriterOptions{Queue: 4, Batch: 1, Flush: time.Millisecond, Timeout: 200 * time.Millisecond, Retry: time.Hour}, log)
	start := time.Now()
	accepted := 0
	for range 1000 {
		if w.Enqueue(sample(time.Now(), "example.org")) {
			accepted++
		}
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("1000 enqueues took %v while the store hung", d)
	}
	s := w.Stats()
	if s.DroppedQueue < 1000-4-1 || int(s.DroppedQueue)+accepted != 1000 {
		t.Fatalf("dropped %d, accepted %d of 1000 with a queue of 4", s.DroppedQueue, accepted)
	}
	closeW(t, w)
	if s := w.Stats(); s.Written != 0 || s.DroppedStore != uint64(accepted) {
		t.Fatalf("after close: %+v, accepted %d", s, accepted)
	}
}

// A store that is down: batches are dropped and counted, the log says so
// once per interval, and writing resumes after the retry delay once the
// store is back.
func TestWriterStoreDownThenBack(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	down, attempts := true, 0
	open := func(ctx context.Context) (Store, error) {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if down {
			return nil, errors.New("connection refused")
		}
		return Open(ctx, Options{Path: dir + "/s.db"})
	}
	log, buf := testLog()
	w := NewWriter(open, WriterOptions{Batch: 1, Flush: time.Millisecond, Retry: 50 * time.Millisecond, LogEvery: time.Hour}, log)
	for range 20 {
		w.Enqueue(sample(time.Now(), "example.org"))
		time.Sleep(5 * time.Millisecond)
	}
	waitFor(t, func() bool { return w.Stats().DroppedStore == 20 })
	if n := strings.Count(buf.String(), "decision store unavailable"); n != 1 {
		t.Fatalf("%d warnings while down, want 1:\n%s", n, buf)
	}
	mu.Lock()
	down, tries := false, attempts
	mu.Unlock()
	if tries > 20/5+2 {
		t.Errorf("%d connection attempts in ~100ms with a 50ms retry delay", tries)
	}
	w.Enqueue(sample(time.Now(), "example.org"))
	waitFor(t, func() bool { w.Enqueue(sample(time.Now(), "example.org")); return w.Stats().Written > 0 })
	closeW(t, w)
	if !strings.Contains(buf.String(), "reachable again") {
		t.Errorf("no line saying the store is back:\n%s", buf)
	}
}

// A real PostgreSQL that cannot be reached (nothing listens on the
// port): the records are counted as dropped, nothing blocks.
func TestWriterPostgresUnreachable(t *testing.T) {
	if PostgresForTest(t) == "" {
		return
	}
	log, _ := testLog()
	opts := Options{URL: "postgres://spoofguard:x@127.0.0.1:1/none?connect_timeout=2"}
	w := NewWriter(func(ctx context.Context) (Store, error) { return Open(ctx, opts) },
		WriterOptions{Flush: time.Millisecond, Retry: time.Hour}, log)
	for range 10 {
		w.Enqueue(sample(time.Now(), "example.org"))
	}
	waitFor(t, func() bool { return w.Stats().DroppedStore == 10 })
	closeW(t, w)
}

func TestWriterRetention(t *testing.T) {
	path := t.TempDir() + "/s.db"
	st := openT(t, Options{Path: path})
	old := sample(time.Now().Add(-40*24*time.Hour), "example.org")
	if err := st.Insert(context.Background(), []Record{old}); err != nil {
		t.Fatal(err)
	}
	log, _ := testLog()
	w := NewWriter(func(ctx context.Context) (Store, error) { return Open(ctx, Options{Path: path}) },
		WriterOptions{Flush: time.Millisecond}, log)
	w.Enqueue(sample(time.Now(), "example.org"))
	waitFor(t, func() bool {
		n, _ := st.Count(context.Background(), Query{})
		return n == 1 && w.Stats().Written == 1
	})
	closeW(t, w)
	if got := scanAll(t, st, Query{}); len(got) != 1 || got[0].Time.Before(time.Now().Add(-time.Hour)) {
		t.Fatalf("left %+v; the 40-day-old record should be gone", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 20s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
