// Package store keeps a record of the daemon's decisions about mail that
// names a protected domain, so that an administrator can see who sends as
// those domains before switching from report-only to enforce
// (`spoofguard report`).
//
// A Record holds the facts of one decision: when, which protected domain
// and where it appeared, the envelope and From domains, the evaluated
// client with its reverse name, class and relay, the SPF, DKIM and DMARC
// results with their domains, each rule's outcome, the verdict and, in
// report-only mode, the verdict enforce mode would have given. It never
// holds message content: no subject, no body, no header other than the
// From domains.
//
// Two backends sit behind the Store interface:
//
//   - an embedded SQLite file (modernc.org/sqlite: SQLite translated to
//     Go, so the binary stays static and needs no cgo), the default, under
//     the service's state directory, with no setup;
//   - PostgreSQL (jackc/pgx through database/sql), for several MX hosts
//     that report into one place.
//
// Both use one schema and one set of statements: the SQL is written in
// the subset both understand ($n parameters, BIGINT times in
// microseconds since the epoch). The schema is created and changed by
// goose (pressly/goose v3) from SQL files embedded in the binary and
// applied when the store opens. Goose was chosen over golang-migrate
// because its Provider keeps no global state, reads an fs.FS, and takes
// a PostgreSQL advisory lock while migrating, so two daemons starting at
// once against one server do not race; the modules it adds are few
// (golang-migrate's module requires every driver it supports). The
// schema has no auto-incrementing key, which the dialects spell
// differently, so one file serves both.
//
// Writing never slows the mail flow: the daemon hands records to a
// Writer, whose bounded queue is drained by one goroutine that inserts in
// batches. A full queue drops the record; a store that is down or fails
// drops the batch; both are counted, logged at most once a minute, and
// the connection is retried later. Retention (keep, 30 days by default)
// and a row cap (oldest first) bound the store's size.
package store
