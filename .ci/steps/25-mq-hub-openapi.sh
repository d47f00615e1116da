#!/usr/bin/env bash
# The MQ Hub reference server against its own OpenAPI 3.1 description (issue 12 item 7): for each
# profile, `sigharness serve mq-hub` on loopback, then schemathesis (PyPI) generates requests from
# GET /.well-known/mq-hub/openapi.json and checks every answer's status, content type, headers and
# body schema against it, and that none is a server error. Needs python3 with venv and PyPI access.
# Bounded: pip and every schemathesis run have timeouts; the servers are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${MQ_HUB_OPENAPI_VENV:-target/openapi-venv}"
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  timeout 300 "$venv/bin/pip" install --quiet --disable-pip-version-check --timeout 60 \
    'schemathesis>=4.0,<5'
fi
cargo build --quiet --locked -p sigharness --bin sigharness
bin="${CARGO_TARGET_DIR:-target}/debug/sigharness"
work="$(mktemp -d)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
port=18431
for profile in rfc130 opendsu; do
  printf 'profile = "%s"\ndomains = ["default"]\nconnection_timeout_ms = 200\n' "$profile" \
    >"$work/hub.toml"
  "$bin" serve mq-hub --listen "127.0.0.1:$port" --config "$work/hub.toml" >"$work/hub.log" 2>&1 &
  pid=$!
  url="http://127.0.0.1:$port"
  for _ in $(seq 1 50); do
    "$bin" mq-hub keygen --out "$work/me.json" >/dev/null 2>&1 && \
      "$bin" mq-hub token --url "$url" --profile "$profile" --key "$work/me.json" \
        --domain default >"$work/token.json" 2>/dev/null && break
    sleep 0.1
  done
  token="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$work/token.json")"
  header=authorization
  [ "$profile" = opendsu ] && header=x-mq-authorization
  NO_PROXY='*' no_proxy='*' timeout 300 "$venv/bin/schemathesis" run "$url/.well-known/mq-hub/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    -H "$header: $token" -n 50 --request-timeout 5
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=""
done
