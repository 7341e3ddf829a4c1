-- +goose Up
-- One schema for SQLite and PostgreSQL: no auto-incrementing key, which
-- the two spell differently; "at" (microseconds) orders the records.
CREATE TABLE decisions (
	at           BIGINT NOT NULL,
	host         TEXT NOT NULL DEFAULT '',
	queue        TEXT NOT NULL DEFAULT '',
	domain       TEXT NOT NULL,
	seen         TEXT NOT NULL DEFAULT '',
	rcpt         TEXT NOT NULL DEFAULT '',
	mail_from    TEXT NOT NULL DEFAULT '',
	from_domains TEXT NOT NULL DEFAULT '',
	client_ip    TEXT NOT NULL DEFAULT '',
	client_name  TEXT NOT NULL DEFAULT '',
	helo         TEXT NOT NULL DEFAULT '',
	class        TEXT NOT NULL DEFAULT '',
	relay        TEXT NOT NULL DEFAULT '',
	spf          TEXT NOT NULL DEFAULT '',
	spf_domain   TEXT NOT NULL DEFAULT '',
	dkim         TEXT NOT NULL DEFAULT '',
	dmarc        TEXT NOT NULL DEFAULT '',
	rules        TEXT NOT NULL DEFAULT '',
	verdict      TEXT NOT NULL DEFAULT '',
	rule         TEXT NOT NULL DEFAULT '',
	would        TEXT NOT NULL DEFAULT '',
	sender       TEXT NOT NULL DEFAULT '',
	reason       TEXT NOT NULL DEFAULT ''
);
-- One index, by time, for retention and the report's period: each index
-- is paid for on every insert, and a report for one domain reads its
-- period anyway.
CREATE INDEX decisions_at ON decisions (at);

-- +goose Down
DROP TABLE decisions;
