package milter

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spoofguard/spoofguard/config"
	"github.com/spoofguard/spoofguard/store"
)

// recorder is the daemon's link to the decision store: the writer that
// takes records off the mail path, and this host's name for them.
type recorder struct {
	w    *store.Writer
	host string
}

// startStore starts the decision store's writer as [store] says. The
// store is opened by the writer, in the background: a PostgreSQL server
// that is down at start delays nothing, and is retried.
func (d *Daemon) startStore(sc config.StoreConfig, log *slog.Logger) {
	if !sc.On() {
		log.Info("decision store off", "reason", "store.enabled = false")
		return
	}
	opts := store.Options{URL: sc.URL, Path: sc.Path}
	where := store.Redact(sc.URL)
	if sc.URL == "" {
		where = sc.Path
		if _, err := os.Stat(filepath.Dir(sc.Path)); err != nil {
			log.Info("decision store off", "reason", "no directory for "+sc.Path)
			return
		}
	}
	w := store.NewWriter(func(ctx context.Context) (store.Store, error) { return store.Open(ctx, opts) },
		store.WriterOptions{Queue: sc.Queue, Keep: sc.Keep.Duration, MaxRows: int64(sc.MaxRows)}, log)
	host, _ := os.Hostname()
	d.rec = &recorder{w: w, host: host}
	d.metrics.registry.MustRegister(storeCollector{w})
	log.Info("decision store", "at", where, "keep", sc.Keep.Duration.String(), "max_rows", sc.MaxRows)
}

// stopStore writes what is queued, for at most a few seconds: records
// are not worth holding up a shutdown for.
func (d *Daemon) stopStore() {
	if d.rec == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d.rec.w.Close(ctx)
}

// record hands the finished transaction's records to the writer, which
// never blocks.
func (s *session) record() {
	rec := s.d.rec
	if rec == nil {
		return
	}
	for _, r := range records(s.rt.engine, s.msg, s.queue, rec.host, time.Now()) {
		rec.w.Enqueue(r)
	}
}

var (
	descStoreWritten = prometheus.NewDesc("spoofguard_store_records_written_total",
		"Decision records written to the store.", nil, nil)
	descStoreDropped = prometheus.NewDesc("spoofguard_store_records_dropped_total",
		"Decision records dropped: the queue was full, or the store failed or was unreachable.", []string{"reason"}, nil)
	descStoreQueued = prometheus.NewDesc("spoofguard_store_queue_length",
		"Decision records waiting to be written.", nil, nil)
)

// storeCollector reads the writer's counters at scrape time.
type storeCollector struct{ w *store.Writer }

func (c storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descStoreWritten
	ch <- descStoreDropped
	ch <- descStoreQueued
}

func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.w.Stats()
	ch <- prometheus.MustNewConstMetric(descStoreWritten, prometheus.CounterValue, float64(s.Written))
	ch <- prometheus.MustNewConstMetric(descStoreDropped, prometheus.CounterValue, float64(s.DroppedQueue), "queue_full")
	ch <- prometheus.MustNewConstMetric(descStoreDropped, prometheus.CounterValue, float64(s.DroppedStore), "store_error")
	ch <- prometheus.MustNewConstMetric(descStoreQueued, prometheus.GaugeValue, float64(s.Queued))
}
