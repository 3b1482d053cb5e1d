#!/usr/bin/env bash
# The external HTTP benchmark: the real release binary, a real HTTP engine
# (nginx answering like Flowise) and a separate load generator (wrk), each in
# its own process. For every journal (SQLite always, PostgreSQL when one
# answers at 127.0.0.1:5432) it measures, in the same run, calls straight to
# the engine (the baseline) and the same calls through the gateway — the
# chat/tools HTTP API and MCP streamable HTTP (stateless, 2026-07-28) — at
# concurrency 1 and 64: throughput, latency percentiles, errors, and the
# gateway's CPU time per call (utime+stime from /proc).
# Beside it, for every gateway run, the gateway's context switches per call
# (voluntary + involuntary, summed over its threads from
# /proc/<pid>/task/*/status: the wake-ups a call costs at low load), and on
# the PostgreSQL journal the server's CPU time per call (utime+stime of every
# process named `postgres` — postmaster, background processes, backends —
# sampled right before and after the measured wrk run) and the WAL it writes
# per call (pg_current_wal_insert_lsn() before and after). Both are the whole
# server's: anything else using it during a run is counted in them, so the
# report adds the benchmark database's share where it can tell — the CPU of
# its backends, and (with pg_walinspect, PostgreSQL 15+) its WAL records,
# bytes and full-page images by resource manager — and the server's CPU
# during the direct runs, when the benchmark leaves it idle.
#
#   scripts/bench_http.sh
#   OUT=/tmp/bench-http/run DURATION=5s scripts/bench_http.sh
#
# Environment:
#   VIEAGENT_BIN   use this binary instead of `cargo build --release`
#   DURATION       wrk duration per run (default 10s)
#   WARMUP         wrk warm-up per gateway start, not reported (default 2s; 0 to skip)
#   OUT            output prefix (default bench/http): writes ${OUT}-results.json
#                  and ${OUT}-results.md
#   JOURNALS       "sqlite postgres" (default: sqlite, plus postgres if pg_isready)
#   PGHOST/PGPORT/PGUSER  where the PostgreSQL journal lives (127.0.0.1/5432/postgres)
#   PERF_DIR       record a `perf record -g` profile of the gateway during each
#                  gateway run into PERF_DIR/<journal>-<path>-c<N>.data (the
#                  figures of a profiled run are not comparable with others)
#   TARGETS        the gateway paths to run (default "chat_tools_http mcp_streamable_http")
#   CONCURRENCY    the "conc:threads" specs (default "1:1 64:2")
#   LIST_AGENTS    tools/list: publish this many agents (SQLite run only; the
#                  list never touches the journal) and time the whole paged
#                  list from a separate client, repeat and new requests,
#                  against the same page bytes served by nginx (default
#                  10000; 0 to skip)
#
# Debian: installs wrk and nginx with apt-get when they are missing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
OUT=${OUT:-bench/http}
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
PROTOCOL=2026-07-28

log() { printf '[bench_http] %s\n' "$*" >&2; }
die() { printf '[bench_http] ERROR: %s\n' "$*" >&2; exit 1; }

# --- tools -----------------------------------------------------------------
need_apt=()
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
if [ ${#need_apt[@]} -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || die "missing ${need_apt[*]} and no apt-get to install them"
    SUDO=()
    [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
    log "installing ${need_apt[*]}"
    if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${need_apt[@]}" >&2; then
        "${SUDO[@]}" apt-get update >&2
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${need_apt[@]}" >&2
    fi
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
for tool in curl python3 wrk; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done

if [ -n "${VIEAGENT_BIN:-}" ]; then
    BIN=$VIEAGENT_BIN
else
    log "cargo build --release"
    (cd "$ROOT" && cargo build --release >&2)
    BIN=$ROOT/target/release/vieagent
fi
[ -x "$BIN" ] || die "no executable at $BIN"
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

# --- cleanup ---------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-http.XXXXXX")
NGINX_PID=
GW_PID=
PG_DB=

stop_pid() {
    local pid=$1
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

drop_pg_db() {
    [ -n "$PG_DB" ] || return 0
    dropdb -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" --if-exists "$PG_DB" >/dev/null 2>&1 || true
    PG_DB=
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$GW_PID"
    GW_PID=
    stop_pid "$NGINX_PID"
    NGINX_PID=
    drop_pg_db
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Wait until $1 answers 200 (optionally with a body containing $2).
wait_http() {
    local url=$1 want=${2:-} pid=$3 body
    for _ in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || return 1
        if body=$(curl -fsS --max-time 2 "$url" 2>/dev/null); then
            if [ -z "$want" ] || [[ $body == *"$want"* ]]; then
                return 0
            fi
        fi
        sleep 0.1
    done
    return 1
}

# utime+stime of a process in clock ticks (all its threads).
cpu_ticks() {
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}
# nginx: master plus its workers.
nginx_ticks() {
    local total pid children
    total=$(cpu_ticks "$NGINX_PID")
    children=$(ps -o pid= --ppid "$NGINX_PID" 2>/dev/null || true)
    for pid in $children; do
        total=$((total + $(cpu_ticks "$pid" 2>/dev/null || echo 0)))
    done
    echo "$total"
}
CLK_TCK=$(getconf CLK_TCK)
# /proc samplers, one line per thread or process; run_wrk
# subtracts a sample taken right before the measured run from one taken right
# after it, key by key, so that a thread or process that appears during the
# run counts from zero, and one that exits during the run is missed (its
# figures leave /proc with it): tokio's blocking threads linger 10 s idle and
# the gateway's PostgreSQL pool keeps its connections, so few are.
# Each line: key, value, part of the value, name.
#   tasks PID  context switches (voluntary + involuntary; part: voluntary) of
#              each thread of PID, keyed by thread id and start time, named
#              by its comm: the thread wake-ups that cost a call its CPU at
#              low load (involuntary ones mostly mean a busy machine)
#   pg DB      utime+stime (clock ticks) of each process whose comm is
#              `postgres` (the postmaster, its background processes and
#              backends, of every cluster on the machine that is visible in
#              /proc), keyed by pid and start time; part: the same for the
#              backends of database DB (their process title names it), else 0
cat >"$WORK/sample.py" <<'PY'
import os, sys
mode, arg = sys.argv[1:3]
def read(path, binary=False):
    try:
        with open(path, "rb" if binary else "r") as f:
            return f.read()
    except OSError:
        return None
if mode == "tasks":
    base = f"/proc/{arg}/task"
    try:
        tids = os.listdir(base)
    except OSError:
        tids = []
    for tid in tids:
        stat, status = read(f"{base}/{tid}/stat"), read(f"{base}/{tid}/status")
        if stat is None or status is None:
            continue
        cs = {l.split(":")[0]: int(l.split()[1]) for l in status.splitlines() if "ctxt_switches:" in l}
        name = stat[stat.find("(") + 1:stat.rfind(")")].replace(" ", "_") or "?"
        # Keyed by thread id and start time (field 22), named by comm.
        print(f"{tid}@{stat[stat.rfind(')') + 2:].split()[19]}",
              cs.get("voluntary_ctxt_switches", 0) + cs.get("nonvoluntary_ctxt_switches", 0),
              cs.get("voluntary_ctxt_switches", 0), name)
elif mode == "pg":
    title = f" {arg} ".encode() if arg else None
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        stat = read(f"/proc/{pid}/stat")
        if stat is None or stat[stat.find("(") + 1:stat.rfind(")")] != "postgres":
            continue
        f = stat[stat.rfind(")") + 2:].split()
        cmd = read(f"/proc/{pid}/cmdline", True) or b""
        # utime, stime, starttime: fields 14, 15 and 22 of /proc/PID/stat.
        ticks = int(f[11]) + int(f[12])
        print(f"{pid}@{f[19]}", ticks, ticks if title and title in cmd else 0, "postgres")
PY
ctx_switches() { python3 "$WORK/sample.py" tasks "$1"; }
pg_procs() { python3 "$WORK/sample.py" pg "$PG_DB"; }
pg_sql() {
    psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$PG_DB" -XAtq -v ON_ERROR_STOP=1 -c "$1" 2>/dev/null
}
# Set per PostgreSQL journal: 1 when pg_walinspect could be created in the
# benchmark's database.
PG_WALINSPECT=

# --- the engine: nginx answering like Flowise ------------------------------
ENGINE_PORT=$(free_port)
NGX=$WORK/nginx
mkdir -p "$NGX/logs" "$NGX/tmp"
cat >"$NGX/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $NGX/nginx.pid;
error_log $NGX/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $NGX/tmp/body;
    proxy_temp_path $NGX/tmp/proxy;
    fastcgi_temp_path $NGX/tmp/fastcgi;
    uwsgi_temp_path $NGX/tmp/uwsgi;
    scgi_temp_path $NGX/tmp/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    server {
        listen 127.0.0.1:$ENGINE_PORT;
        location ~ ^/api/v1/prediction/.+ {
            default_type application/json;
            return 200 '{"text":"ok","chatMessageId":"m-1"}';
        }
        location = /api/v1/ping {
            default_type text/plain;
            return 200 'pong';
        }
        location /pages/ { root $NGX; default_type application/json; }
        location / { return 404; }
    }
}
EOF
log "starting nginx on 127.0.0.1:$ENGINE_PORT"
"$NGINX" -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/logs/error.log" >"$NGX/logs/stdout.log" 2>&1 &
NGINX_PID=$!
wait_http "http://127.0.0.1:$ENGINE_PORT/api/v1/ping" pong "$NGINX_PID" \
    || die "nginx did not start: $(cat "$NGX/logs/error.log" "$NGX/logs/stdout.log" 2>/dev/null)"
ENGINE=http://127.0.0.1:$ENGINE_PORT

# --- wrk scripts -----------------------------------------------------------
DIRECT_BODY='{"question":"hi","streaming":false}'
CHAT_BODY='{"arguments":{"question":"hi"}}'
MCP_BODY='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"bench","arguments":{"question":"hi"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"wrk","version":"1"}}}}'

# A Lua long string needs no escaping as long as the text has no "]]".
write_lua() {
    local file=$1 body=$2 fail=$3
    shift 3
    {
        echo 'wrk.method = "POST"'
        printf 'wrk.body = [[%s]]\n' "$body"
        echo 'wrk.headers["Content-Type"] = "application/json"'
        local h
        for h in "$@"; do
            printf 'wrk.headers[ [[%s]] ] = [[%s]]\n' "${h%%: *}" "${h#*: }"
        done
        printf 'local fail_pattern = [[%s]]\n' "$fail"
        cat <<'LUA'
-- A 200 whose body says the call failed counts as a failure too.
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) failed = 0 end
function response(status, headers, body)
  if status ~= 200 or (fail_pattern ~= "" and body ~= nil and string.find(body, fail_pattern, 1, true)) then
    failed = failed + 1
  end
end
function done(summary, latency, requests)
  local f = 0
  for _, t in ipairs(threads) do f = f + (t:get("failed") or 0) end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"failed":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"mean_us":%.3f,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout, f,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.mean, latency.max))
end
LUA
    } >"$file"
}

RESULTS=$WORK/results.jsonl
: >"$RESULTS"
LIST_RESULTS=$WORK/list.jsonl
: >"$LIST_RESULTS"
LIST_AGENTS=${LIST_AGENTS:-10000}

# bench_list DIR GATEWAY KEY: publish LIST_AGENTS agents, then time the whole
# tools/list (every page in turn, its nextCursor read from the body's tail)
# from a separate Python client over one keep-alive connection: 30 rounds
# repeating one request (the gateway may replay it) and 30 with a request
# new each round (clientInfo.version), then the same page bytes as static
# files from nginx, the floor of moving them.
bench_list() {
    local dir=$1 gw=$2 key=$3
    log "[tools/list] publishing $LIST_AGENTS agents"
    python3 - "$dir/agents" "$LIST_AGENTS" <<'PY'
import sys, pathlib
d, n = pathlib.Path(sys.argv[1]), int(sys.argv[2])
for i in range(1, n):
    (d / f"list_{i:05d}.yaml").write_text(f"""name: Agent {i}
tool_name: agent_{i:05d}
description: A marketplace agent that answers questions about a topic
engine: flowise
flow_id: 9c7a4d5e-2f1b-4c3a-9e8d-7b6a5c4d3e2f
input_schema:
  type: object
  properties:
    question: {{type: string, title: Question}}
    tone: {{type: string, enum: [a, b]}}
  required: [question]
  additionalProperties: false
required_credential_types: [openai]
credits_per_call: 1
status: published
""")
PY
    "$BIN" agents apply "$dir/agents" --no-engine-check >"$dir/apply-list.log" 2>&1 \
        || die "[tools/list] agents apply failed: $(tail -n 20 "$dir/apply-list.log")"
    wait_http "$gw/readyz" "\"tools\":$LIST_AGENTS" "$GW_PID" \
        || die "[tools/list] the gateway did not list $LIST_AGENTS tools: $(curl -sS "$gw/readyz" 2>&1)"
    mkdir -p "$NGX/pages"
    # nginx's workers run unprivileged: let them reach the page files.
    chmod o+x "$WORK" "$NGX"
    chmod 755 "$NGX/pages"
    python3 - "$gw" "$key" "$NGX/pages" "http://127.0.0.1:$ENGINE_PORT/pages" "$PROTOCOL" "$LIST_AGENTS" >>"$LIST_RESULTS" <<'PY'
import http.client, json, re, sys, time, urllib.parse
gw, key, pages_dir, static, protocol, agents = sys.argv[1:]
CURSOR = re.compile(rb'"nextCursor"\s*:\s*"([^"]*)"')

def conn_for(url):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30), u.path

def next_cursor(body):
    m = CURSOR.search(body, max(0, len(body) - 512)) or CURSOR.search(body)
    return m.group(1).decode() if m else None

conn, path = conn_for(gw + "/mcp")
def page(version, cursor):
    params = {"_meta": {"io.modelcontextprotocol/protocolVersion": protocol,
                        "io.modelcontextprotocol/clientCapabilities": {},
                        "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": version}}}
    if cursor is not None:
        params["cursor"] = cursor
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": params})
    conn.request("POST", path, body, {
        "Authorization": f"Bearer {key}", "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": protocol, "Mcp-Method": "tools/list"})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200 or b'"tools"' not in data:
        sys.exit(f"tools/list answered {r.status}: {data[:300]!r}")
    return data

def rounds(new_each_round):
    firsts, wholes, bodies = [], [], []
    for n in range(30):
        version = f"round-{n}" if new_each_round else "1"
        bodies = []
        t = time.perf_counter()
        body = page(version, None)
        firsts.append(time.perf_counter() - t)
        bodies.append(body)
        cursor = next_cursor(body)
        while cursor is not None:
            body = page(version, cursor)
            bodies.append(body)
            cursor = next_cursor(body)
        wholes.append(time.perf_counter() - t)
    return firsts, wholes, bodies

def pct(xs, q):
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(q * len(xs)))] * 1000, 3)

r_first, r_whole, bodies = rounds(False)
n_first, n_whole, _ = rounds(True)
for i, b in enumerate(bodies):
    with open(f"{pages_dir}/{i}.json", "wb") as f:
        f.write(b)
sconn, spath = conn_for(static)
s_whole = []
for _ in range(30):
    t = time.perf_counter()
    for i in range(len(bodies)):
        sconn.request("GET", f"{spath}/{i}.json")
        r = sconn.getresponse()
        data = r.read()
        if r.status != 200 or len(data) != len(bodies[i]):
            sys.exit(f"nginx served page {i} as {r.status}, {len(data)} bytes")
        next_cursor(data)
    s_whole.append(time.perf_counter() - t)
print(json.dumps({
    "agents": int(agents), "pages": len(bodies), "bytes": sum(len(b) for b in bodies),
    "repeat": {"first_page_p50_ms": pct(r_first, 0.5), "whole_list_p50_ms": pct(r_whole, 0.5),
               "whole_list_p99_ms": pct(r_whole, 0.99)},
    "new": {"first_page_p50_ms": pct(n_first, 0.5), "whole_list_p50_ms": pct(n_whole, 0.5),
            "whole_list_p99_ms": pct(n_whole, 0.99)},
    "static_whole_list_p50_ms": pct(s_whole, 0.5)}))
PY
    log "[tools/list] $(tail -n1 "$LIST_RESULTS")"
}

# run_wrk JOURNAL TARGET CONC THREADS URL LUA
run_wrk() {
    local journal=$1 target=$2 conc=$3 threads=$4 url=$5 lua=$6
    local out=$WORK/wrk-$journal-$target-c$conc.txt
    local before_gw=0 after_gw=0 before_ng after_ng
    local cs_before=$WORK/cs-before.txt cs_after=$WORK/cs-after.txt
    local pg_before=$WORK/pg-before.txt pg_after=$WORK/pg-after.txt pg_wal=$WORK/pg-wal.jsonl
    local before_lsn='' after_lsn='' pg=''
    : >"$cs_before"; : >"$cs_after"; : >"$pg_before"; : >"$pg_after"; : >"$pg_wal"
    # PostgreSQL: the outermost samples, so that psql's own short-lived
    # backend is gone before the CPU sample and starts after the last one.
    if [ "$journal" = postgres ] && [ -n "$PG_DB" ]; then pg=1; fi
    log "$journal  $target  c=$conc  ($DURATION)"
    if [ -n "$pg" ]; then
        before_lsn=$(pg_sql 'SELECT pg_current_wal_insert_lsn()' || true)
        pg_procs >"$pg_before"
    fi
    [ -z "$GW_PID" ] || before_gw=$(cpu_ticks "$GW_PID")
    [ -z "$GW_PID" ] || ctx_switches "$GW_PID" >"$cs_before"
    before_ng=$(nginx_ticks)
    local perf_pid=
    if [ -n "${PERF_DIR:-}" ] && [ -n "$GW_PID" ] && [ "$target" != direct ]; then
        mkdir -p "$PERF_DIR"
        perf record -q -g -p "$GW_PID" -o "$PERF_DIR/$journal-$target-c$conc.data" >/dev/null 2>&1 &
        perf_pid=$!
    fi
    wrk -t"$threads" -c"$conc" -d"$DURATION" --latency -s "$lua" "$url" >"$out" 2>&1 \
        || die "wrk failed for $target: $(cat "$out")"
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" 2>/dev/null || true
    fi
    [ -z "$GW_PID" ] || after_gw=$(cpu_ticks "$GW_PID")
    [ -z "$GW_PID" ] || ctx_switches "$GW_PID" >"$cs_after"
    after_ng=$(nginx_ticks)
    if [ -n "$pg" ]; then
        pg_procs >"$pg_after"
        after_lsn=$(pg_sql 'SELECT pg_current_wal_insert_lsn()' || true)
        # The WAL between the two positions, record by record, read after
        # the measurement (so it costs the run nothing; ~0.2 s per 20 MB):
        # by resource manager (Heap, Btree, Transaction, ...), and whether
        # the record is the benchmark database's (a block of one of its
        # relations, or written by a transaction that wrote one: commits).
        # pg_stat_wal would be the cheaper source of bytes, but backends
        # flush their counters to it up to 10 s late once idle (PostgreSQL
        # 15+), which smears them across runs.
        if [ -n "$PG_WALINSPECT" ] && [ -n "$before_lsn" ] && [ -n "$after_lsn" ] && [ "$target" != direct ]; then
            pg_sql "WITH r AS (SELECT * FROM pg_get_wal_records_info('$before_lsn', '$after_lsn')),
                    db AS (SELECT '% rel %/' || oid || '/%' AS pat FROM pg_database WHERE datname = current_database()),
                    x AS (SELECT DISTINCT r.xid FROM r, db WHERE r.block_ref LIKE db.pat AND r.xid::text <> '0'),
                    t AS (SELECT r.resource_manager,
                                 coalesce(r.block_ref LIKE (SELECT pat FROM db), false)
                                   OR r.xid IN (SELECT xid FROM x) AS bench,
                                 r.record_length, r.fpi_length FROM r)
                    SELECT row_to_json(g) FROM (
                      SELECT resource_manager, bench, count(*) AS records, sum(record_length) AS bytes,
                             sum(fpi_length) AS fpi_bytes, count(*) FILTER (WHERE fpi_length > 0) AS fpi_records
                      FROM t GROUP BY 1, 2) g" >"$pg_wal" \
                || { log "pg_get_wal_records_info failed (WAL recycled?): no WAL breakdown for this run"; : >"$pg_wal"; }
        fi
    fi
    if [ "$target" = direct ]; then before_gw=0; after_gw=0; : >"$cs_before"; : >"$cs_after"; fi
    python3 - "$out" "$journal" "$target" "$conc" "$threads" \
        "$((after_gw - before_gw))" "$((after_ng - before_ng))" "$CLK_TCK" \
        "$cs_before" "$cs_after" "$pg" "$pg_before" "$pg_after" "$before_lsn" "$after_lsn" "$pg_wal" \
        >>"$RESULTS" <<'PY'
import json, re, sys
(path, journal, target, conc, threads, gw_ticks, ng_ticks, clk, cs_before, cs_after,
 pg, pg_before, pg_after, before_lsn, after_lsn, pg_wal) = sys.argv[1:]

def sample(file):
    rows = {}
    for line in open(file):
        key, value, part, name = line.split()
        rows[key] = (int(value), int(part), name)
    return rows

def delta(before, after):
    # Keys only in the "after" sample appeared during the run: from zero.
    # Keys only in "before" exited during the run: missed.
    b, a = sample(before), sample(after)
    total = part_total = 0
    by_name = {}
    for key, (value, part, name) in a.items():
        was = b.get(key, (0, 0))
        total += value - was[0]
        part_total += part - was[1]
        by_name[name] = by_name.get(name, 0) + value - was[0]
    return total, part_total, len(a), by_name

def lsn(text):
    hi, _, lo = text.strip().partition("/")
    return (int(hi, 16) << 32) + int(lo, 16)
text = open(path).read()
m = re.search(r"^BENCH_JSON (\{.*\})$", text, re.M)
if not m:
    sys.exit(f"no summary in the wrk output:\n{text}")
r = json.loads(m.group(1))
# Cross-check with wrk's own text: "Non-2xx or 3xx responses: N".
non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
r["non_2xx_3xx"] = int(non2xx.group(1)) if non2xx else 0
socket = r["connect"] + r["read"] + r["write"] + r["timeout"]
# failed already counts non-200 answers; keep the larger of the two views.
r["errors"] = socket + max(r["failed"], r["non_2xx_3xx"], r["status"])
secs = r["duration_us"] / 1e6
n = r["requests"]
out = {
    "journal": journal, "target": target, "concurrency": int(conc), "threads": int(threads),
    "requests": n, "seconds": round(secs, 3), "calls_per_s": round(n / secs, 1) if secs else 0,
    "errors": r["errors"], "non_2xx_3xx": r["non_2xx_3xx"], "socket_errors": socket,
    "failed_results": r["failed"],
    "p50_ms": r["p50_us"] / 1000, "p90_ms": r["p90_us"] / 1000, "p99_ms": r["p99_us"] / 1000,
    "p999_ms": r["p999_us"] / 1000, "mean_ms": round(r["mean_us"] / 1000, 4), "max_ms": r["max_us"] / 1000,
}
clk = int(clk)
if target != "direct":
    cpu = int(gw_ticks) / clk
    out["gateway_cpu_s"] = round(cpu, 3)
    out["cpu_ms_per_call"] = round(cpu * 1000 / n, 4) if n else None
    cs, voluntary, _, by_thread = delta(cs_before, cs_after)
    out["context_switches"] = cs
    out["context_switches_per_call"] = round(cs / n, 2) if n else None
    if n:
        out["voluntary_context_switches_per_call"] = round(voluntary / n, 2)
        out["involuntary_context_switches_per_call"] = round((cs - voluntary) / n, 2)
        # By thread name (comm, e.g. tokio-rt-worker), most first.
        out["context_switches_per_call_by_thread"] = {
            k: round(v / n, 2) for k, v in sorted(by_thread.items(), key=lambda kv: -kv[1]) if v}
ng = int(ng_ticks) / clk
out["engine_cpu_s"] = round(ng, 3)
out["engine_cpu_ms_per_call"] = round(ng * 1000 / n, 4) if n else None
if pg:
    ticks, backend_ticks, procs, _ = delta(pg_before, pg_after)
    if procs:
        # In the direct runs nothing of the benchmark touches PostgreSQL:
        # pg_cpu_s there is the server's background over the same time.
        out["pg_cpu_s"] = round(ticks / clk, 3)
        out["pg_backend_cpu_s"] = round(backend_ticks / clk, 3)
        out["pg_processes"] = procs
        if target != "direct" and n:
            out["pg_cpu_ms_per_call"] = round(ticks * 1000 / clk / n, 4)
            out["pg_backend_cpu_ms_per_call"] = round(backend_ticks * 1000 / clk / n, 4)
    if before_lsn and after_lsn:
        wal = lsn(after_lsn) - lsn(before_lsn)
        out["wal_bytes"] = wal
        if target != "direct" and n:
            out["wal_bytes_per_call"] = round(wal / n, 1)
    rows = [json.loads(l) for l in open(pg_wal) if l.strip()]
    if rows and n:
        # Record lengths include their full-page images, not the WAL page
        # headers and alignment that the LSN delta counts too.
        by_rm = {}
        for row in rows:
            if not row["bench"]:
                continue
            by_rm[row["resource_manager"]] = {
                "records_per_call": round(row["records"] / n, 2),
                "bytes_per_call": round(row["bytes"] / n, 1),
                "fpi_records_per_call": round(row["fpi_records"] / n, 3),
                "fpi_bytes_per_call": round(row["fpi_bytes"] / n, 1)}
        bench = [row for row in rows if row["bench"]]
        out["wal_server_records_per_call"] = round(sum(row["records"] for row in rows) / n, 2)
        out["wal_db_bytes_per_call"] = round(sum(row["bytes"] for row in bench) / n, 1)
        out["wal_db_records_per_call"] = round(sum(row["records"] for row in bench) / n, 2)
        out["wal_db_fpi_bytes_per_call"] = round(sum(row["fpi_bytes"] for row in bench) / n, 1)
        out["wal_db_by_resource_manager"] = dict(sorted(by_rm.items(), key=lambda kv: -kv[1]["bytes_per_call"]))
print(json.dumps(out))
PY
}

# --- the check before measuring --------------------------------------------
check_target() {
    local name=$1 url=$2 body=$3 want=$4 refuse=$5
    shift 5
    local args=() h status answer
    for h in "$@"; do args+=(-H "$h"); done
    answer=$(curl -sS --max-time 10 -o "$WORK/check.out" -w '%{http_code}' -X POST \
        -H 'Content-Type: application/json' "${args[@]}" --data "$body" "$url") \
        || die "$name: $url does not answer"
    status=$answer
    answer=$(cat "$WORK/check.out")
    [ "$status" = 200 ] || die "$name: $url answered HTTP $status, not 200: $answer"
    if [ -n "$want" ] && [[ $answer != *"$want"* ]]; then
        die "$name: the answer has no $want (not a successful call): $answer"
    fi
    if [ -n "$refuse" ] && [[ $answer == *"$refuse"* ]]; then
        die "$name: the call failed ($refuse): $answer"
    fi
    log "check ok: $name → ${answer:0:160}"
}

check_target direct "$ENGINE/api/v1/prediction/bench-flow" "$DIRECT_BODY" '"text":"ok"' ''
write_lua "$WORK/direct.lua" "$DIRECT_BODY" ''

# --- journals --------------------------------------------------------------
if [ -z "${JOURNALS:-}" ]; then
    JOURNALS=sqlite
    if command -v pg_isready >/dev/null 2>&1 && pg_isready -h "$PGHOST" -p "$PGPORT" >/dev/null 2>&1; then
        JOURNALS="sqlite postgres"
    else
        log "no PostgreSQL at $PGHOST:$PGPORT (pg_isready): SQLite only"
    fi
fi

bench_journal() {
    local journal=$1
    local dir=$WORK/$journal
    mkdir -p "$dir/agents"
    case $journal in
        sqlite) export VIEAGENT_DATABASE_URL="sqlite://$dir/vieagent.db" ;;
        postgres)
            PG_DB=vieagent_bench_$$_$(date +%s)
            createdb -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" "$PG_DB" || die "createdb $PG_DB failed"
            export VIEAGENT_DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$PG_DB"
            ;;
        *) die "unknown journal $journal" ;;
    esac
    local gw_port
    gw_port=$(free_port)
    VIEAGENT_MASTER_KEY=$("$BIN" vault generate-key 2>/dev/null) || VIEAGENT_MASTER_KEY=$(head -c32 /dev/urandom | base64)
    export VIEAGENT_MASTER_KEY
    export VIEAGENT_FLOWISE_URL=$ENGINE
    export VIEAGENT_FLOWISE_API_KEY=bench
    export VIEAGENT_DEMO=false
    export VIEAGENT_LOG_LEVEL=warn
    export VIEAGENT_LISTEN=127.0.0.1:$gw_port

    log "[$journal] migrate, agent, user, key"
    "$BIN" migrate >"$dir/migrate.log" 2>&1 || die "[$journal] migrate failed: $(cat "$dir/migrate.log")"
    PG_WALINSPECT=
    if [ "$journal" = postgres ]; then
        # Only to break the WAL of each run down after it; the gateway never
        # sees it. Needs a superuser (or pg_read_server_files) and
        # PostgreSQL 15+; without it the runs report WAL bytes only.
        if pg_sql 'CREATE EXTENSION IF NOT EXISTS pg_walinspect' >/dev/null; then
            PG_WALINSPECT=1
        else
            log "[$journal] no pg_walinspect: server-wide WAL bytes per call only"
        fi
    fi
    cat >"$dir/agents/bench.yaml" <<'YAML'
name: Bench
tool_name: bench
description: Benchmark agent (nginx answers like Flowise).
engine: flowise
flow_id: bench-flow
input_schema:
  type: object
  properties:
    question: {type: string}
  required: [question]
required_credential_types: []
credits_per_call: 1
status: published
YAML
    "$BIN" agents apply "$dir/agents" --no-engine-check >"$dir/apply.log" 2>&1 \
        || die "[$journal] agents apply failed: $(cat "$dir/apply.log")"
    "$BIN" users create --email bench@example.com --credits 1000000000 >"$dir/user.log" 2>&1 \
        || die "[$journal] users create failed: $(cat "$dir/user.log")"
    local key
    "$BIN" keys create --user bench@example.com >"$dir/key.log" 2>"$dir/key.err" \
        || die "[$journal] keys create failed: $(cat "$dir/key.log" "$dir/key.err")"
    key=$(grep -o 'vak_[A-Za-z0-9]*' "$dir/key.log" "$dir/key.err" | head -n1 | sed 's/^[^:]*://') || true
    [ -n "$key" ] || die "[$journal] no vak_ key in the output of keys create: $(cat "$dir/key.log" "$dir/key.err")"

    log "[$journal] vieagent serve on $VIEAGENT_LISTEN"
    "$BIN" serve >"$dir/serve.log" 2>&1 &
    GW_PID=$!
    wait_http "http://$VIEAGENT_LISTEN/readyz" '"tools":1' "$GW_PID" \
        || die "[$journal] the gateway is not ready with 1 tool: $(curl -sS "http://$VIEAGENT_LISTEN/readyz" 2>&1; tail -n 30 "$dir/serve.log")"

    local gw=http://$VIEAGENT_LISTEN
    local auth="Authorization: Bearer $key"
    local mcp_headers=("$auth" "Accept: application/json, text/event-stream"
        "MCP-Protocol-Version: $PROTOCOL" "Mcp-Method: tools/call" "Mcp-Name: bench")
    check_target chat_tools_http "$gw/v1/tools/bench/invoke" "$CHAT_BODY" '"status":"success"' '' "$auth"
    check_target mcp_streamable_http "$gw/mcp" "$MCP_BODY" '"result"' '"isError":true' "${mcp_headers[@]}"
    write_lua "$dir/chat.lua" "$CHAT_BODY" '"status":"failed"' "$auth"
    write_lua "$dir/mcp.lua" "$MCP_BODY" '"isError":true' "${mcp_headers[@]}"

    if [ "$WARMUP" != 0 ]; then
        log "[$journal] warm-up $WARMUP (not reported)"
        wrk -t2 -c64 -d"$WARMUP" -s "$dir/chat.lua" "$gw/v1/tools/bench/invoke" >/dev/null 2>&1 || true
        wrk -t2 -c64 -d"$WARMUP" -s "$dir/mcp.lua" "$gw/mcp" >/dev/null 2>&1 || true
    fi

    local spec conc threads target
    for spec in ${CONCURRENCY:-1:1 64:2}; do
        conc=${spec%%:*}
        threads=${spec#*:}
        run_wrk "$journal" direct "$conc" "$threads" "$ENGINE/api/v1/prediction/bench-flow" "$WORK/direct.lua"
        for target in ${TARGETS:-chat_tools_http mcp_streamable_http}; do
            case $target in
                chat_tools_http) run_wrk "$journal" "$target" "$conc" "$threads" "$gw/v1/tools/bench/invoke" "$dir/chat.lua" ;;
                mcp_streamable_http) run_wrk "$journal" "$target" "$conc" "$threads" "$gw/mcp" "$dir/mcp.lua" ;;
                *) die "unknown target $target" ;;
            esac
        done
    done

    if [ "$journal" = sqlite ] && [ "$LIST_AGENTS" -gt 0 ]; then
        bench_list "$dir" "$gw" "$key"
    fi

    kill -0 "$GW_PID" 2>/dev/null || die "[$journal] the gateway died: $(tail -n 30 "$dir/serve.log")"
    stop_pid "$GW_PID"
    GW_PID=
    if [ "$journal" = postgres ]; then drop_pg_db; fi
}

for journal in $JOURNALS; do
    bench_journal "$journal"
done

# --- report ----------------------------------------------------------------
case $OUT in */*) mkdir -p "$(dirname "$OUT")" ;; esac
case $OUT in /*) OUT_ABS=$OUT ;; *) OUT_ABS=$ROOT/$OUT ;; esac
mkdir -p "$(dirname "$OUT_ABS")"
JSON_OUT=$OUT_ABS-results.json
MD_OUT=$OUT_ABS-results.md

WRK_VERSION=$(wrk -v 2>&1 | head -n1 | sed 's/ \[.*//' || true)
NGINX_VERSION=$("$NGINX" -v 2>&1 | head -n1 | sed 's/^nginx version: //' || true)
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null || true)" ]; then
    GIT_REV="$GIT_REV-dirty"
fi
BIN_VERSION=$("$BIN" --version 2>/dev/null | head -n1 || true)

python3 - "$RESULTS" "$JSON_OUT" "$MD_OUT" "$DURATION" "$WRK_VERSION" "$NGINX_VERSION" \
    "$GIT_REV" "$BIN_VERSION" "$(nproc)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    "$(uname -srm)" "$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ //')" \
    "$LIST_RESULTS" <<'PY'
import json, sys
(results, json_out, md_out, duration, wrk_v, nginx_v, git_rev, bin_v, nproc, date,
 kernel, cpu_model, list_results) = sys.argv[1:]
runs = [json.loads(l) for l in open(results) if l.strip()]
lists = [json.loads(l) for l in open(list_results) if l.strip()]
direct = {(r["journal"], r["concurrency"]): r for r in runs if r["target"] == "direct"}
for r in runs:
    if r["target"] == "direct":
        continue
    d = direct.get((r["journal"], r["concurrency"]))
    if d:
        r["overhead_p50_ms"] = round(r["p50_ms"] - d["p50_ms"], 3)
        r["overhead_p99_ms"] = round(r["p99_ms"] - d["p99_ms"], 3)
ratios = []
for journal in dict.fromkeys(r["journal"] for r in runs):
    for target in ("chat_tools_http", "mcp_streamable_http"):
        by_c = {r["concurrency"]: r for r in runs if r["journal"] == journal and r["target"] == target}
        c1, c64 = by_c.get(1), by_c.get(64)
        if c1 and c64 and c1.get("cpu_ms_per_call") and c64.get("cpu_ms_per_call"):
            ratios.append({"journal": journal, "target": target,
                           "cpu_ms_per_call_c1": c1["cpu_ms_per_call"],
                           "cpu_ms_per_call_c64": c64["cpu_ms_per_call"],
                           "ratio_c1_over_c64": round(c1["cpu_ms_per_call"] / c64["cpu_ms_per_call"], 2),
                           "context_switches_per_call_c1": c1.get("context_switches_per_call"),
                           "context_switches_per_call_c64": c64.get("context_switches_per_call")})
    # The same ratio for nginx answering the direct runs: what one
    # event-driven process pays per request at c1 against c64 on this
    # machine (wake-ups are not shared by a batch at c1).
    by_c = {r["concurrency"]: r for r in runs if r["journal"] == journal and r["target"] == "direct"}
    c1, c64 = by_c.get(1), by_c.get(64)
    if c1 and c64 and c1.get("engine_cpu_ms_per_call") and c64.get("engine_cpu_ms_per_call"):
        ratios.append({"journal": journal, "target": "engine_direct",
                       "cpu_ms_per_call_c1": c1["engine_cpu_ms_per_call"],
                       "cpu_ms_per_call_c64": c64["engine_cpu_ms_per_call"],
                       "ratio_c1_over_c64": round(c1["engine_cpu_ms_per_call"] / c64["engine_cpu_ms_per_call"], 2),
                       "context_switches_per_call_c1": None, "context_switches_per_call_c64": None})
machine = {"nproc": int(nproc), "cpu": cpu_model, "kernel": kernel, "date": date,
           "wrk": wrk_v, "nginx": nginx_v, "git_rev": git_rev, "vieagent": bin_v,
           "duration_per_run": duration}
doc = {"machine": machine,
       "method": "wrk (separate process) against the release binary `vieagent serve`; engine: nginx "
                 "(worker_processes 1) answering POST /api/v1/prediction/* like Flowise; direct = the "
                 "same engine without the gateway, measured in the same run; -t1 -c1 and -t2 -c64; "
                 "cpu_ms_per_call = gateway utime+stime delta / requests; context_switches_per_call = "
                 "the gateway threads' voluntary+involuntary context switches / requests (threads "
                 "exiting during a run are missed; context_switches_per_call_by_thread splits them by thread "
                 "name, (in)voluntary_context_switches_per_call by kind); PostgreSQL journal only: pg_cpu_ms_per_call = "
                 "utime+stime delta of every process named postgres (postmaster, background "
                 "processes, backends; backends exiting during a run are missed, the pool keeps its "
                 "connections) / requests, pg_backend_cpu_ms_per_call = the part of it in the "
                 "benchmark database's backends, pg_cpu_s in a direct run = the server's background "
                 "over the same time; wal_bytes_per_call = pg_current_wal_insert_lsn() delta / "
                 "requests; both server-wide, so any other client of the server during a run is "
                 "counted; wal_db_* = pg_walinspect's pg_get_wal_records_info over the same LSN "
                 "range, only the records of the benchmark database's relations and of the "
                 "transactions that wrote them (bytes = record lengths, full-page images included); "
                 "in cpu_ratio, "
                 "target engine_direct is nginx's own CPU per request in the direct runs",
       "runs": runs, "cpu_ratio": ratios, "tools_list": lists}
with open(json_out, "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")

def ms(v):
    return "—" if v is None else f"{v:.3f} ms"
def num(v, fmt="{:.3f}"):
    return "—" if v is None else fmt.format(v)
def cs(r):
    if r.get("context_switches_per_call") is None:
        return "—"
    if r.get("voluntary_context_switches_per_call") is None:
        return f"{r['context_switches_per_call']:.1f}"
    return (f"{r['context_switches_per_call']:.1f} ({r['voluntary_context_switches_per_call']:.1f} + "
            f"{r['involuntary_context_switches_per_call']:.1f})")
lines = [
    f"<!-- written by scripts/bench_http.sh; {nproc} CPUs; {date}; git {git_rev} -->",
    "",
    "### Tool calls over HTTP: wrk → nginx engine directly vs through `vieagent serve`",
    "",
    f"{nproc} CPUs ({cpu_model or 'unknown CPU'}), {kernel}; {wrk_v}; {nginx_v}; {bin_v}; "
    f"{duration} per run; load generator, gateway and engine share the machine.",
    "",
    "Per call: the gateway's CPU (utime+stime) and context switches (voluntary + involuntary, all "
    "its threads); on the PostgreSQL journal the server's CPU (every `postgres` process) and the WAL "
    "it wrote (insert LSN delta), both server-wide.",
    "",
    "| journal | concurrency | path | p50 | p99 | overhead p50 | overhead p99 | calls/s | requests | errors "
    "| gateway CPU/call | context switches/call (voluntary + involuntary) | PostgreSQL CPU/call | WAL/call |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
]
order = {"direct": 0, "mcp_streamable_http": 1, "chat_tools_http": 2}
for r in sorted(runs, key=lambda r: (list(dict.fromkeys(x["journal"] for x in runs)).index(r["journal"]),
                                     r["concurrency"], order.get(r["target"], 9))):
    path = "direct (baseline)" if r["target"] == "direct" else r["target"]
    cpu = r.get("cpu_ms_per_call")
    lines.append(
        f"| {r['journal']} | {r['concurrency']} | {path} | {ms(r['p50_ms'])} | {ms(r['p99_ms'])} | "
        f"{ms(r.get('overhead_p50_ms'))} | {ms(r.get('overhead_p99_ms'))} | {r['calls_per_s']:.0f} | "
        f"{r['requests']} | {r['errors']} | {num(cpu, '{:.3f} ms')} | "
        f"{cs(r)} | {num(r.get('pg_cpu_ms_per_call'), '{:.3f} ms')} | "
        f"{num(r.get('wal_bytes_per_call'), '{:,.0f} B')} |")
pg_runs = [r for r in runs if r["journal"] == "postgres" and r["target"] != "direct"
           and ("pg_cpu_ms_per_call" in r or "wal_bytes_per_call" in r)]
if pg_runs:
    lines += ["", "PostgreSQL per call. `server`: every `postgres` process / the insert LSN delta; "
              "`idle server`: the server's CPU per second during the direct run at the same concurrency, "
              "when nothing of the benchmark touches it; `benchmark DB`: its backends' CPU / the WAL "
              "records of its relations and of the transactions that wrote them (pg_walinspect), "
              "by resource manager:", "",
              "| concurrency | path | server CPU/call | benchmark DB CPU/call | idle server | server WAL/call "
              "| benchmark DB WAL/call | records/call | full-page images/call | by resource manager (records, bytes per call) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(pg_runs, key=lambda r: (r["concurrency"], order.get(r["target"], 9))):
        d = direct.get((r["journal"], r["concurrency"])) or {}
        idle = (d["pg_cpu_s"] * 1000 / d["seconds"]) if d.get("pg_cpu_s") is not None and d.get("seconds") else None
        rms = (r.get("wal_db_by_resource_manager") or {}).items()
        lines.append(
            f"| {r['concurrency']} | {r['target']} | {num(r.get('pg_cpu_ms_per_call'), '{:.3f} ms')} | "
            f"{num(r.get('pg_backend_cpu_ms_per_call'), '{:.3f} ms')} | {num(idle, '{:.1f} ms/s')} | "
            f"{num(r.get('wal_bytes_per_call'), '{:,.0f} B')} | {num(r.get('wal_db_bytes_per_call'), '{:,.0f} B')} | "
            f"{num(r.get('wal_db_records_per_call'), '{:.1f}')} | "
            f"{num(r.get('wal_db_fpi_bytes_per_call'), '{:,.0f} B')} | "
            + ("; ".join(f"{k} {v['records_per_call']:.1f} rec, {v['bytes_per_call']:,.0f} B"
                         for k, v in rms if v["bytes_per_call"] >= 0.5) or "—")
            + " |")
if ratios:
    lines += ["", "CPU per call, concurrency 1 ÷ concurrency 64 (the gateway's; `engine_direct`: nginx's "
              "own in the direct runs, for scale), and the gateway's context switches per call:", "",
              "| journal | path | CPU/call c1 | CPU/call c64 | ratio | context switches/call c1 | c64 |",
              "|---|---|---|---|---|---|---|"]
    for x in ratios:
        lines.append(f"| {x['journal']} | {x['target']} | {x['cpu_ms_per_call_c1']:.3f} ms | "
                     f"{x['cpu_ms_per_call_c64']:.3f} ms | {x['ratio_c1_over_c64']:.2f} | "
                     f"{num(x['context_switches_per_call_c1'], '{:.1f}')} | "
                     f"{num(x['context_switches_per_call_c64'], '{:.1f}')} |")
for x in lists:
    lines += ["", f"### tools/list of {x['agents']:,} agents from a separate client (Python, one keep-alive connection)", "",
              "| pages | bytes | first page p50 (repeat / new) | whole list p50 (repeat / new) | whole list p99 (repeat / new) | same bytes from nginx, whole list p50 |",
              "|---|---|---|---|---|---|",
              f"| {x['pages']} | {x['bytes']} | {x['repeat']['first_page_p50_ms']:.2f} / {x['new']['first_page_p50_ms']:.2f} ms | "
              f"{x['repeat']['whole_list_p50_ms']:.2f} / {x['new']['whole_list_p50_ms']:.2f} ms | "
              f"{x['repeat']['whole_list_p99_ms']:.2f} / {x['new']['whole_list_p99_ms']:.2f} ms | "
              f"{x['static_whole_list_p50_ms']:.2f} ms |"]
with open(md_out, "w") as f:
    f.write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
log "wrote $JSON_OUT and $MD_OUT"
