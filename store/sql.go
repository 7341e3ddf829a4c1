package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// columns lists the decisions table's columns in the order values() and
// scan() use them.
var columns = []string{"at", "host", "queue", "domain", "seen", "rcpt", "mail_from", "from_domains",
	"client_ip", "client_name", "helo", "class", "relay", "spf", "spf_domain", "dkim", "dmarc", "rules",
	"verdict", "rule", "would", "sender", "reason"}

// insertRows bounds one INSERT statement: 100 rows of 23 values stay far
// below both SQLite's (32766) and PostgreSQL's (65535) parameter limits.
const insertRows = 100

// sqlStore is the database/sql side both backends share: their SQL is
// written in the subset SQLite and PostgreSQL both accept.
type sqlStore struct {
	db      *sql.DB
	backend string
	// numbered: $1, $2… parameters in the INSERT, as PostgreSQL wants.
	// SQLite takes them too, but looks each one up by name in a list,
	// which makes a multi-row INSERT quadratic; it gets plain "?".
	numbered bool
}

func (s *sqlStore) Backend() string { return s.backend }

func (s *sqlStore) Close() error { return s.db.Close() }

func (s *sqlStore) Insert(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for len(recs) > 0 {
		n := min(len(recs), insertRows)
		if _, err := tx.ExecContext(ctx, insertSQL(n, s.numbered), insertArgs(recs[:n])...); err != nil {
			return err
		}
		recs = recs[n:]
	}
	return tx.Commit()
}

// insertSQL is a multi-row INSERT with n rows of parameters, numbered
// or not.
func insertSQL(n int, numbered bool) string {
	var b strings.Builder
	b.WriteString("INSERT INTO decisions (" + strings.Join(columns, ", ") + ") VALUES ")
	p := 1
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j := range columns {
			if j > 0 {
				b.WriteString(", ")
			}
			if numbered {
				fmt.Fprintf(&b, "$%d", p)
				p++
			} else {
				b.WriteByte('?')
			}
		}
		b.WriteByte(')')
	}
	return b.String()
}

func insertArgs(recs []Record) []any {
	args := make([]any, 0, len(recs)*len(columns))
	for i := range recs {
		args = append(args, values(&recs[i])...)
	}
	return args
}

// values is a record as the table's columns.
func values(r *Record) []any {
	return []any{r.Time.UnixMicro(), r.Host, r.Queue, r.Domain, encodeList(r.Seen), r.Rcpt, r.MailFrom,
		encodeList(r.FromDomains), r.ClientIP, r.ClientName, r.Helo, r.Class, r.Relay, r.SPF, r.SPFDomain,
		encodeResults(r.DKIM), encodeResults(r.DMARC), encodeResults(r.Rules), r.Verdict, r.Rule, r.Would,
		r.Sender, r.Reason}
}

// where is the WHERE clause and arguments for a query.
func where(q Query) (string, []any) {
	clause, args := " WHERE at >= $1", []any{q.Since.UnixMicro()}
	if q.Since.IsZero() {
		args[0] = int64(0)
	}
	if q.Domain != "" {
		clause += " AND domain = $2"
		args = append(args, strings.ToLower(q.Domain))
	}
	return clause, args
}

func (s *sqlStore) Count(ctx context.Context, q Query) (int64, error) {
	clause, args := where(q)
	var n int64
	err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM decisions"+clause, args...).Scan(&n)
	return n, err
}

func (s *sqlStore) Scan(ctx context.Context, q Query, fn func(*Record) error) error {
	clause, args := where(q)
	rows, err := s.db.QueryContext(ctx, "SELECT "+strings.Join(columns, ", ")+" FROM decisions"+clause+" ORDER BY at", args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var r Record
	for rows.Next() {
		if err := scanRecord(rows, &r); err != nil {
			return err
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// scanRecord reads one row into r.
func scanRecord(rows *sql.Rows, r *Record) error {
	var at int64
	var seen, from, dkim, dmarc, rules string
	err := rows.Scan(&at, &r.Host, &r.Queue, &r.Domain, &seen, &r.Rcpt, &r.MailFrom, &from, &r.ClientIP,
		&r.ClientName, &r.Helo, &r.Class, &r.Relay, &r.SPF, &r.SPFDomain, &dkim, &dmarc, &rules, &r.Verdict,
		&r.Rule, &r.Would, &r.Sender, &r.Reason)
	if err != nil {
		return err
	}
	r.Time = time.UnixMicro(at).UTC()
	r.Seen, r.FromDomains = decodeList(seen), decodeList(from)
	r.DKIM, r.DMARC, r.Rules = decodeResults(dkim), decodeResults(dmarc), decodeResults(rules)
	return nil
}

func (s *sqlStore) Prune(ctx context.Context, before time.Time, maxRows int64) (int64, error) {
	res, err := s.db.ExecContext(ctx, "DELETE FROM decisions WHERE at < $1", before.UnixMicro())
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	if maxRows <= 0 {
		return n, nil
	}
	// The newest maxRows stay: every record at or before the time of the
	// first one past them goes (records of that very microsecond too).
	// No such record (fewer records), nothing goes.
	res, err = s.db.ExecContext(ctx, "DELETE FROM decisions WHERE at <= "+
		"(SELECT at FROM decisions ORDER BY at DESC LIMIT 1 OFFSET $1)", maxRows)
	if err != nil {
		return n, err
	}
	m, _ := res.RowsAffected()
	return n + m, nil
}
