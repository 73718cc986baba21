#!/usr/bin/env bash
# `make test`: run the given test command with a throwaway PostgreSQL on 127.0.0.1 when
# one can be started (the same tests as CI), and remove it afterwards. When none can be,
# run anyway and end with a loud summary of what was skipped and why.
set -uo pipefail
cd "$(dirname "$0")/.."

started=0
reason=""
if [ -n "${MODELCERT_TEST_PG_URL:-}" ]; then
  reason=""  # a server was given (CI's .ci/run, or the developer's own)
else
  PG_FUNCTIONS_ONLY=1 source .ci/postgres.sh
  PG_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  if pg_start; then
    started=1
    trap pg_stop EXIT
  else
    reason=$PG_SKIP_REASON
  fi
fi
chromium_reason=""
[ -x /usr/bin/chromium ] || chromium_reason="no /usr/bin/chromium (apt-get install chromium): the browser tests skip"

"$@"
rc=$?

if [ -n "$reason" ] || [ -n "$chromium_reason" ]; then
  echo
  echo "======================================================================"
  echo " WARNING: this run tested LESS than CI (.ci/run). Skipped:"
  [ -n "$reason" ] && echo "  - PostgreSQL tests (marker 'postgres'): $reason"
  [ -n "$chromium_reason" ] && echo "  - $chromium_reason"
  echo "======================================================================"
elif [ "$started" = 1 ]; then
  echo "(PostgreSQL tests ran against a throwaway server on 127.0.0.1:$PG_PORT, now removed)"
fi
exit $rc
