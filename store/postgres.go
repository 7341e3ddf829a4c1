package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// openPostgres connects to the server the URL names and, unless Existing
// is set, applies the schema under an advisory lock.
func openPostgres(ctx context.Context, o Options) (Store, error) {
	db, err := sql.Open("pgx", o.URL)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", Redact(o.URL), err)
	}
	// The writer inserts from one goroutine and a report reads from one:
	// a few connections are plenty, and a server shared by several MX
	// hosts is spared idle ones.
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(2)
	if err := preparePostgres(ctx, db, o.Existing); err != nil {
		db.Close()
		return nil, fmt.Errorf("store %s: %w", Redact(o.URL), err)
	}
	return &sqlStore{db: db, backend: BackendPostgres, numbered: true}, nil
}

func preparePostgres(ctx context.Context, db *sql.DB, existing bool) error {
	if err := db.PingContext(ctx); err != nil {
		return err
	}
	if existing {
		return nil
	}
	lk, err := postgresLock()
	if err != nil {
		return err
	}
	return migrate(ctx, db, goose.DialectPostgres, lk)
}
