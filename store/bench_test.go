package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkInsertSQLite is the writer's cost per record on the embedded
// file, in batches of 500 as under load.
func BenchmarkInsertSQLite(b *testing.B) {
	st, err := Open(context.Background(), Options{Path: filepath.Join(b.TempDir(), "s.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	batch := make([]Record, 500)
	for i := range batch {
		batch[i] = sample(time.Now(), "example.org")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := st.Insert(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(batch)), "µs/record")
}
