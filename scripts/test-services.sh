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

if ! pg_isready -d "$admin" -q 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do pg_isready -d "$admin" -q && break; sleep 1; done
fi
psql "$admin" -tc "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1 \
  || psql "$admin" -c "CREATE DATABASE \"$db\""
