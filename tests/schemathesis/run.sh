#!/usr/bin/env bash
# schemathesis against the live admin API: starts `vieagent serve` on a fresh
# embedded database with a bootstrap admin token, fuzzes every operation of
# /admin/v1/openapi.json and (as a user) /v1/openapi.json, fails on any 5xx
# or non-conforming response.
# Usage: tests/schemathesis/run.sh /path/to/vieagent /path/to/st
set -euo pipefail
BIN=$1
ST=$2
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
TOKEN="schemathesis-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
cleanup() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$WORK"; }
(cd "$WORK" && exec env -u VIEAGENT_DATABASE_URL VIEAGENT_ADMIN_TOKEN="$TOKEN" VIEAGENT_LOG_LEVEL=warn \
  VIEAGENT_MARKETPLACE_WEBHOOK_SECRET="$TOKEN-marketplace" \
  "$BIN" serve --demo --listen "127.0.0.1:$PORT" >"$WORK/server.out" 2>"$WORK/server.err") &
PID=$!
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
"$ST" --config-file "$HERE/schemathesis.toml" run "http://127.0.0.1:$PORT/admin/v1/openapi.json" \
  -H "Authorization: Bearer $TOKEN" --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-50}" --seed 1
# The chat-tools API, as a user: make one through the admin API, then fuzz.
USER_ID=$(curl -fsS -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d '{"email":"fuzz@example.com","initial_credits":1000}' "http://127.0.0.1:$PORT/admin/v1/users" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
USER_KEY=$(curl -fsS -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d '{"name":"fuzz"}' "http://127.0.0.1:$PORT/admin/v1/users/$USER_ID/keys" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
"$ST" --config-file "$HERE/schemathesis.toml" run "http://127.0.0.1:$PORT/v1/openapi.json" \
  -H "Authorization: Bearer $USER_KEY" --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-50}" --seed 1
if grep -q "ERROR" "$WORK/server.err"; then
  echo "the server logged errors during the run:" >&2
  grep "ERROR" "$WORK/server.err" | head -20 >&2
  exit 1
fi
