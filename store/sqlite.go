package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// sqliteParams: WAL lets `spoofguard report` read while the daemon
// writes; busy_timeout makes a writer wait for a reader's lock instead of
// failing at once; synchronous=NORMAL is durable enough for a log of
// decisions (WAL keeps the file consistent) and spares an fsync per
// batch; _txlock=immediate takes the write lock when a transaction
// begins, so two writers never deadlock upgrading from a read lock.
const sqliteParams = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"

// openSQLite opens the embedded file, creating it (and its schema)
// unless Existing is set.
func openSQLite(ctx context.Context, o Options) (Store, error) {
	path := o.Path
	if path == "" {
		path = DefaultPath
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if o.Existing {
		if _, err := os.Stat(abs); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("store: no database at %s (is the daemon's store enabled, and is this its path?)", abs)
		}
	}
	db, err := sql.Open("sqlite", sqliteDSN(abs, o.Existing))
	if err != nil {
		return nil, err
	}
	if err := prepareSQLite(ctx, db, o.Existing); err != nil {
		db.Close()
		return nil, fmt.Errorf("store %s: %w", abs, err)
	}
	return &sqlStore{db: db, backend: BackendSQLite}, nil
}

// sqliteDSN is the file as an SQLite URI; an existing store is opened
// with mode=rw, which does not create a missing file.
func sqliteDSN(abs string, existing bool) string {
	q := sqliteParams
	if existing {
		q += "&mode=rw"
	}
	return (&url.URL{Scheme: "file", Path: abs, RawQuery: q}).String()
}

func prepareSQLite(ctx context.Context, db *sql.DB, existing bool) error {
	// One connection: SQLite has one writer at a time anyway, and the
	// pragmas in the DSN apply to every connection opened.
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		return err
	}
	if existing {
		return nil
	}
	return migrate(ctx, db, goose.DialectSQLite3)
}
