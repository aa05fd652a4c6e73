#!/usr/bin/env bash
# The services `make test` runs against, as CI does: the machine's PostgreSQL (started if it is not
# up, the database in DATABASE_URL created if missing). Without PostgreSQL the row-lock tests and the
# fault tests cannot run, and a test that cannot run fails the suite: it is never skipped.
set -euo pipefail
: "${DATABASE_URL:?DATABASE_URL must name the test database}"
db="${DATABASE_URL##*/}"
admin="${DATABASE_URL%/*}/postgres"
if ! command -v pg_isready >/dev/null; then
  echo "make test runs on PostgreSQL and needs its tools: apt-get install postgresql" >&2
  exit 1
fi
cluster_version="$(ls /etc/postgresql | head -n1)"
hba="/etc/postgresql/$cluster_version/main/pg_hba.conf"

if ! pg_isready -d "$admin" -q 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$cluster_version" main start || true
  for _ in $(seq 1 30); do pg_isready -d "$admin" -q && break; sleep 1; done
fi
# A cluster Debian just created asks for a password on 127.0.0.1; the test database is reached
# without one (as on CI's machines), so a throwaway test machine trusts the loopback for postgres.
if ! psql "$admin" -tAc "SELECT 1" >/dev/null 2>&1 && [ -w "$hba" ]; then
  sed -i "1i host all postgres 127.0.0.1/32 trust" "$hba"
  pg_ctlcluster --skip-systemctl-redirect "$cluster_version" main reload
fi
psql "$admin" -tc "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1 \
  || psql "$admin" -c "CREATE DATABASE \"$db\""
