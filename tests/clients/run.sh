#!/usr/bin/env bash
# Cross-client core tests: start a NATS server on a free local port, run the
# Python (nats-py) and JS (nats npm) suites against it, then stop the server.
#
# Usage: tests/clients/run.sh <server command...>
#   e.g. tests/clients/run.sh target/debug/natsd
#        tests/clients/run.sh nats-server        # reference server
# Prerequisites (installed by CI, not here): `pip install nats-py` and
# `npm install --no-save nats@2` in tests/clients/js.
set -uo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 <server command...>" >&2
  exit 2
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
node="${NODE:-node}"

port="$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
log="$(mktemp "${TMPDIR:-/tmp}/natsd-clients.XXXXXX")"

"$@" -a 127.0.0.1 -p "$port" >"$log" 2>&1 &
server_pid=$!

cleanup() {
  if kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  rm -f "$log"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Wait (bounded, 10 s) for the port to accept TCP connections.
ready=0
for _ in $(seq 100); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    break
  fi
  if "$python" -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.5).close()' "$port" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.1
done
if [ "$ready" -ne 1 ]; then
  echo "server did not start accepting on 127.0.0.1:$port; its output:" >&2
  cat "$log" >&2
  exit 1
fi

export NATS_URL="nats://127.0.0.1:$port"
echo "# server: $* (pid $server_pid) at $NATS_URL"

status=0
echo "# python (nats-py)"
"$python" "$here/python/test_core.py" || status=1
echo "# js (nats npm)"
(cd "$here/js" && "$node" test_core.mjs) || status=1

if [ "$status" -ne 0 ]; then
  echo "# FAILED; server output (last 50 lines):" >&2
  tail -n 50 "$log" >&2
else
  echo "# all client suites passed"
fi
exit "$status"
