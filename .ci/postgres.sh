#!/usr/bin/env bash
# Starts a PostgreSQL server on 127.0.0.1 for the store's tests and prints
# the URL they use (SPOOFGUARD_TEST_POSTGRES). Runs as root in a bare
# Debian container: installs Debian's postgresql package when missing,
# starts the packaged cluster, and creates a role and a database that the
# role owns (the tests create one schema each inside it).
set -euo pipefail

if ! command -v pg_lsclusters >/dev/null 2>&1; then
	apt-get update >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2
fi

read -r ver cluster port status _ < <(pg_lsclusters --no-header | head -n 1)
if [ -z "${ver:-}" ]; then
	ver=$(ls /usr/lib/postgresql | sort -n | tail -n 1)
	pg_createcluster "$ver" main >&2
	read -r ver cluster port status _ < <(pg_lsclusters --no-header | head -n 1)
fi
if [ "$status" != online ]; then
	pg_ctlcluster "$ver" "$cluster" start >&2
fi

psql_admin() { su postgres -c "psql -p $port -v ON_ERROR_STOP=1 -qAt -c \"$1\"" ; }
for _ in $(seq 1 30); do
	psql_admin 'SELECT 1' >/dev/null 2>&1 && break
	sleep 1
done
if [ -z "$(psql_admin "SELECT 1 FROM pg_roles WHERE rolname = 'spoofguard'")" ]; then
	psql_admin "CREATE ROLE spoofguard LOGIN PASSWORD 'spoofguard'" >&2
fi
if [ -z "$(psql_admin "SELECT 1 FROM pg_database WHERE datname = 'spoofguard_test'")" ]; then
	psql_admin "CREATE DATABASE spoofguard_test OWNER spoofguard" >&2
fi
echo "postgres://spoofguard:spoofguard@127.0.0.1:$port/spoofguard_test"
