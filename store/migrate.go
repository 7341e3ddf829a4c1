package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// migrations holds the schema, one file per version, written in SQL
// that SQLite and PostgreSQL both accept.
//
//go:embed migrations
var migrations embed.FS

// migrate applies the schema versions the store does not have yet.
func migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect, opts ...goose.ProviderOption) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	// The table goose keeps its versions in is its own: the schema's
	// name for it says so.
	opts = append(opts, goose.WithDisableGlobalRegistry(true), goose.WithTableName("spoofguard_schema"))
	p, err := goose.NewProvider(dialect, db, fsys, opts...)
	if err != nil {
		return fmt.Errorf("store schema: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store schema: %w", err)
	}
	return nil
}

// postgresLock serialises migrations between daemons sharing a server:
// a session-level advisory lock held while goose applies versions.
func postgresLock() (goose.ProviderOption, error) {
	l, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	return goose.WithSessionLocker(l), nil
}
