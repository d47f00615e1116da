#!/usr/bin/env bash
# The Locust path of `sigharness load` end to end on one machine (loopback only), as CI runs it:
# our verifier (`sigharness serve http-sig-verifier`), a corpus for it (`sigharness load prepare
# http-sig-verifier`), a Locust master and N workers replaying it (conformance/load/
# locustfile.py), and `sigharness load judge` over the workers' records.
#
#   conformance/load/run-locust.sh SIGHARNESS LOCUST OUT [RATE] [SECONDS] [WORKERS] [USERS]
#
# SIGHARNESS: the sigharness binary; LOCUST: the locust executable (e.g. a venv's bin/locust);
# OUT: a directory for the corpus, the records, the logs and the report (load.json, load.md,
# load.svg). Exit status: the judge's (0 every reply right, 1 not, 2 could not run).
# A vendor replaces the `serve` step with their verifier (--verifier-url, --set signing_key=...).
set -euo pipefail

bin=$1
locust=$2
out=$3
rate=${4:-200}
secs=${5:-5}
workers=${6:-2}
users=${7:-40}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
data=$root/harness/http-sig/tests/data

# Only what this script writes is removed (OUT may hold other files).
rm -rf "$out/corpus" "$out/results" "$out/serve.fifo"
mkdir -p "$out/results"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# The verifier: test-key-ed25519, keyid test-key-ed25519, policy requiring "@method" (the
# suite's `ours`); it prints its URL once it listens.
printf 'required_components = [%s]\n' "'\"@method\"'" >"$out/policy.toml"
mkfifo "$out/serve.fifo"
"$bin" serve http-sig-verifier --listen 127.0.0.1:0 --key "$data/test-key-ed25519.pub.pem" \
    --keyid test-key-ed25519 --policy "$out/policy.toml" --max-connections 4096 \
    >"$out/serve.fifo" 2>"$out/serve.log" &
pids+=($!)
exec 3<"$out/serve.fifo"
read -r -t 30 line <&3 || { echo "the verifier did not start within 30 s" >&2; cat "$out/serve.log" >&2; exit 2; }
url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' <<<"$line")
[ -n "$url" ] || { echo "unexpected first line from the verifier: $line" >&2; exit 2; }
# keep draining its stdout so it never blocks on a full pipe
cat <&3 >>"$out/serve.log" &
pids+=($!)

"$bin" load prepare http-sig-verifier --verifier-url "$url" \
    --set "signing_key=$data/test-key-ed25519.pem" --set keyid=test-key-ed25519 \
    --set 'required_components="@method"' \
    --rate "$rate" --duration "${secs}s" --out "$out/corpus"

export SIGHARNESS_CORPUS=$out/corpus SIGHARNESS_RESULTS=$out/results SIGHARNESS_WORKERS=$workers
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The run lasts the schedule plus time for the last replies; the master waits for its workers.
"$locust" -f "$here/locustfile.py" --headless --master --master-bind-host 127.0.0.1 \
    --master-bind-port "$port" --expect-workers "$workers" --expect-workers-max-wait 60 \
    -u "$users" -r "$users" -t "$((secs + 3))s" --host "$url" --stop-timeout 5 \
    >"$out/locust-master.log" 2>&1 &
master=$!
pids+=("$master")
for i in $(seq 1 "$workers"); do
    "$locust" -f "$here/locustfile.py" --worker --master-host 127.0.0.1 --master-port "$port" \
        >"$out/locust-worker-$i.log" 2>&1 &
    pids+=($!)
done
# Locust exits 1 when any request "failed" (transport errors); the judge decides the verdict.
wait "$master" || true
for p in "${pids[@]:3}"; do wait "$p" || true; done

n=$(cat "$out"/results/*.jsonl 2>/dev/null | wc -l)
echo "locust: $workers workers recorded $n arrivals"
"$bin" load judge --corpus "$out/corpus" --results "$out/results" --out "$out"
