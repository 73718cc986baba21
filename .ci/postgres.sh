# Sourced by .ci/run (and usable by developers): starts a private PostgreSQL cluster
# on 127.0.0.1 and exports MODELCERT_TEST_PG_URL. The cluster lives in a temp dir.
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PG_PORT=${PG_PORT:-55432}
PG_DIR=$(mktemp -d /tmp/modelcert-pg.XXXXXX)
chown postgres:postgres "$PG_DIR" 2>/dev/null || true
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
as_pg "$PG_BIN/initdb -D $PG_DIR/data -U postgres -A trust >/dev/null"
as_pg "$PG_BIN/pg_ctl -D $PG_DIR/data -o '-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1' -l $PG_DIR/log -w start >/dev/null"
as_pg "$PG_BIN/createdb -h 127.0.0.1 -p $PG_PORT -U postgres modelcert_test"
MODELCERT_TEST_PG_URL="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/modelcert_test"
trap 'as_pg "$PG_BIN/pg_ctl -D $PG_DIR/data -m fast stop >/dev/null" || true' EXIT
