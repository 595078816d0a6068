#!/usr/bin/env bash
# Start a throwaway PostgreSQL server (Debian packages) on 127.0.0.1:55432 with TLS, for
# the tests. Prints the URL to use as TEST_POSTGRES_URL.
set -euo pipefail
PGPORT=${PGPORT:-55432}
PGROOT=${PGROOT:-/tmp/threadbridge-pg}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/postgres" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql openssl >&2
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
if [ -f "$PGROOT/data/postmaster.pid" ]; then
  su postgres -c "$bindir/pg_ctl -D $PGROOT/data -m immediate stop" >&2 || true
fi
rm -rf "$PGROOT" && mkdir -p "$PGROOT" && chown postgres "$PGROOT"
su postgres -c "$bindir/initdb -D $PGROOT/data --auth=trust -U postgres" >/dev/null
openssl req -new -x509 -days 2 -nodes -subj "/CN=localhost" \
  -keyout "$PGROOT/data/server.key" -out "$PGROOT/data/server.crt" 2>/dev/null
chown postgres "$PGROOT/data/server.key" "$PGROOT/data/server.crt"
chmod 600 "$PGROOT/data/server.key"
su postgres -c "$bindir/pg_ctl -D $PGROOT/data -l $PGROOT/log -w -o '-p $PGPORT -k $PGROOT -c listen_addresses=127.0.0.1 -c ssl=on -c max_connections=300 -c fsync=off' start" >&2
echo "postgresql://postgres@127.0.0.1:$PGPORT/postgres"
