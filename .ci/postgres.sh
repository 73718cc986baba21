# Sourced by .ci/run and .ci/with-postgres.sh (and usable by developers): starts a private
# PostgreSQL cluster on 127.0.0.1 in a temp dir and exports MODELCERT_TEST_PG_URL;
# pg_stop stops it and deletes the dir. Sourced plainly, it starts at once and stops on
# the shell's EXIT; with PG_FUNCTIONS_ONLY=1 it only defines pg_start / pg_stop.
PG_PORT=${PG_PORT:-55432}
PG_DIR=
PG_BIN=

as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }

# pg_start: returns non-zero (and leaves nothing behind) when no cluster can be started;
# the reason is in PG_SKIP_REASON.
pg_start() {
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
    PG_SKIP_REASON="no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (apt-get install postgresql)"
    return 1
  fi
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    PG_SKIP_REASON="running as root but there is no 'postgres' user to own the cluster"
    return 1
  fi
  PG_DIR=$(mktemp -d /tmp/modelcert-pg.XXXXXX)
  chown postgres:postgres "$PG_DIR" 2>/dev/null || true
  if ! as_pg "$PG_BIN/initdb -D $PG_DIR/data -U postgres -A trust >/dev/null" \
     || ! as_pg "$PG_BIN/pg_ctl -D $PG_DIR/data -o '-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1' -l $PG_DIR/log -w start >/dev/null" \
     || ! as_pg "$PG_BIN/createdb -h 127.0.0.1 -p $PG_PORT -U postgres modelcert_test"; then
    PG_SKIP_REASON="PostgreSQL did not start on 127.0.0.1:$PG_PORT (log: $(tail -n 3 "$PG_DIR/log" 2>/dev/null | tr '\n' ' '))"
    pg_stop
    return 1
  fi
  MODELCERT_TEST_PG_URL="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/modelcert_test"
  export MODELCERT_TEST_PG_URL
}

pg_stop() {
  if [ -n "$PG_DIR" ] && [ -d "$PG_DIR" ]; then
    [ -f "$PG_DIR/data/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl -D $PG_DIR/data -m fast stop >/dev/null" || true
    rm -rf "$PG_DIR"
  fi
  PG_DIR=
}

if [ "${PG_FUNCTIONS_ONLY:-0}" != 1 ]; then
  pg_start || { echo "error: $PG_SKIP_REASON" >&2; exit 1; }
  trap pg_stop EXIT
fi
