package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// backend is one store to run a test against: how to open it (again).
type backend struct {
	name string
	opts Options
}

// backends are the embedded file and, when SPOOFGUARD_TEST_POSTGRES
// names a server, a fresh schema on it. Under CI the server must be
// there.
func backends(t *testing.T) []backend {
	t.Helper()
	bs := []backend{{name: BackendSQLite, opts: Options{Path: filepath.Join(t.TempDir(), "spoofguard.db")}}}
	if u := PostgresForTest(t); u != "" {
		bs = append(bs, backend{name: BackendPostgres, opts: Options{URL: u}})
	}
	return bs
}

// PostgresForTest returns the URL of a fresh schema on the server that
// SPOOFGUARD_TEST_POSTGRES names, dropped when the test ends; "" (with one
// line saying so) when the variable is unset, a failure under CI.
func PostgresForTest(t *testing.T) string {
	t.Helper()
	base := os.Getenv("SPOOFGUARD_TEST_POSTGRES")
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("SPOOFGUARD_TEST_POSTGRES is unset under CI: .ci/postgres.sh starts the server")
		}
		t.Log("PostgreSQL part skipped: SPOOFGUARD_TEST_POSTGRES is unset")
		return ""
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("PostgreSQL at %s: %v", Redact(base), err)
	}
	t.Cleanup(func() {
		if db, err := sql.Open("pgx", base); err == nil {
			db.Exec("DROP SCHEMA " + schema + " CASCADE")
			db.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func openT(t *testing.T, o Options) Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func sample(at time.Time, domain string) Record {
	return Record{
		Time: at, Host: "mx1", Queue: "4ABC", Domain: domain, Seen: []string{SeenEnvelope, SeenFrom},
		MailFrom: "bounce.mcsv.net", FromDomains: []string{domain}, ClientIP: "198.51.100.7",
		ClientName: "mail7.mcsv.net", Helo: "mail7.mcsv.net", Class: "internet", SPF: "pass",
		SPFDomain: "bounce.mcsv.net", DKIM: []Result{{"mcsv.net", "pass"}, {domain, "fail"}},
		DMARC: []Result{{domain, "fail"}}, Rules: []Result{{"envelope-forgery", "not-applicable"}, {"header-forgery", "fired"}},
		Verdict: "accept", Rule: "header-forgery", Would: "reject", Reason: "From names example.org, no aligned pass",
	}
}

func scanAll(t *testing.T, st Store, q Query) []Record {
	t.Helper()
	var out []Record
	err := st.Scan(context.Background(), q, func(r *Record) error {
		out = append(out, *r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			st := openT(t, b.opts)
			if st.Backend() != b.name {
				t.Fatalf("backend %q, want %q", st.Backend(), b.name)
			}
			now := time.Now().UTC().Truncate(time.Microsecond)
			want := []Record{sample(now.Add(-2*time.Hour), "example.org"), sample(now, "example.net")}
			want[1].Seen, want[1].Rcpt, want[1].DKIM = []string{SeenRcpt}, "bob@example.net", nil
			if err := st.Insert(context.Background(), want); err != nil {
				t.Fatal(err)
			}
			if got := scanAll(t, st, Query{}); !reflect.DeepEqual(got, want) {
				t.Fatalf("read back\n%+v\nwant\n%+v", got, want)
			}
			if got := scanAll(t, st, Query{Domain: "EXAMPLE.ORG"}); len(got) != 1 || got[0].Domain != "example.org" {
				t.Fatalf("domain query: %+v", got)
			}
			n, err := st.Count(context.Background(), Query{Since: now.Add(-time.Hour)})
			if err != nil || n != 1 {
				t.Fatalf("count since an hour ago = %d, %v; want 1", n, err)
			}
		})
	}
}

// A forged HELO or From may carry what the compact encodings use as
// separators; it must not spill into another field.
func TestHostileNames(t *testing.T) {
	st := openT(t, backends(t)[0].opts)
	r := sample(time.Now(), "example.org")
	r.FromDomains = []string{"a,b.example", "x y=z"}
	r.DKIM = []Result{{"evil=pass other", "fail"}}
	if err := st.Insert(context.Background(), []Record{r}); err != nil {
		t.Fatal(err)
	}
	got := scanAll(t, st, Query{})[0]
	if !reflect.DeepEqual(got.FromDomains, []string{"ab.example", "x_y_z"}) {
		t.Errorf("from domains %q", got.FromDomains)
	}
	if !reflect.DeepEqual(got.DKIM, []Result{{"evil_pass_other", "fail"}}) || len(got.PassingDKIM()) != 0 {
		t.Errorf("dkim %+v", got.DKIM)
	}
}

func TestBatchLargerThanOneStatement(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			st := openT(t, b.opts)
			recs := make([]Record, 2*insertRows+7)
			for i := range recs {
				recs[i] = sample(time.Now(), "example.org")
			}
			if err := st.Insert(context.Background(), recs); err != nil {
				t.Fatal(err)
			}
			if n, _ := st.Count(context.Background(), Query{}); n != int64(len(recs)) {
				t.Fatalf("count %d, want %d", n, len(recs))
			}
		})
	}
}

func TestPrune(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			st := openT(t, b.opts)
			now := time.Now()
			var recs []Record
			for i := range 10 {
				recs = append(recs, sample(now.Add(-time.Duration(10-i)*24*time.Hour), "example.org"))
			}
			if err := st.Insert(context.Background(), recs); err != nil {
				t.Fatal(err)
			}
			// Older than 7 days: 3 records (10, 9 and 8 days old).
			n, err := st.Prune(context.Background(), now.Add(-7*24*time.Hour-time.Minute), 0)
			if err != nil || n != 3 {
				t.Fatalf("retention pruned %d, %v; want 3", n, err)
			}
			// The cap keeps the newest 4 of the 7 left.
			if n, err = st.Prune(context.Background(), time.Time{}, 4); err != nil || n != 3 {
				t.Fatalf("cap pruned %d, %v; want 3", n, err)
			}
			got := scanAll(t, st, Query{})
			if len(got) != 4 || !got[0].Time.Equal(recs[6].Time.Truncate(time.Microsecond)) {
				t.Fatalf("left %d records, first at %v; want 4 from %v", len(got), got[0].Time, recs[6].Time)
			}
			if n, err = st.Prune(context.Background(), time.Time{}, 100); err != nil || n != 0 {
				t.Fatalf("cap above the count pruned %d, %v", n, err)
			}
		})
	}
}

// Opening again finds the schema in place; daemons starting together on
// one server both come up (goose's advisory lock orders them). An
// embedded file belongs to one daemon: it is created once, and then
// opened side by side (a restart overlapping the old process, reports).
func TestReopenAndConcurrentMigration(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			if b.name == BackendSQLite {
				openT(t, b.opts).Close()
			}
			var wg sync.WaitGroup
			errs := make(chan error, 3)
			for range 3 {
				wg.Go(func() {
					st, err := Open(context.Background(), b.opts)
					if err == nil {
						err = st.Insert(context.Background(), []Record{sample(time.Now(), "example.org")})
						st.Close()
					}
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if n, _ := openT(t, b.opts).Count(context.Background(), Query{}); n != 3 {
				t.Fatalf("count %d, want 3", n)
			}
		})
	}
}

// A reader opens an existing store only: a wrong path is an error, and
// no empty file is left behind.
func TestExistingOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.db")
	if _, err := Open(context.Background(), Options{Path: path, Existing: true}); err == nil {
		t.Fatal("opened a store that does not exist")
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("a reader created the file")
	}
	openT(t, Options{Path: path}).Close()
	st := openT(t, Options{Path: path, Existing: true})
	if n, err := st.Count(context.Background(), Query{}); err != nil || n != 0 {
		t.Fatalf("count %d, %v", n, err)
	}
}

func TestBackendOf(t *testing.T) {
	for raw, want := range map[string]string{
		"": BackendSQLite, "postgres://u:p@db.example:5432/x": BackendPostgres,
		"postgresql://127.0.0.1/x?sslmode=disable": BackendPostgres, "postgres:///x?host=/run/postgresql": BackendPostgres,
	} {
		if got, err := BackendOf(raw); err != nil || got != want {
			t.Errorf("BackendOf(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
	for _, raw := range []string{"mysql://db/x", "/var/lib/x.db", "postgres:///x", "postgres://u:secret@[::1/x"} {
		_, err := BackendOf(raw)
		if err == nil {
			t.Errorf("BackendOf(%q) accepted", raw)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}
