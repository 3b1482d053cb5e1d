#!/usr/bin/env python3
"""Time to stop a run and purge its copy of the user's key, against a real Flowise.

    FLOWISE_URL=http://127.0.0.1:3100 FLOWISE_API_KEY=... FLOW=<agentflow id> WAIT=23 \
        scripts/measure_purge.py target/debug/vieagent <label>

Needs a Flowise 3.x with an Agentflow V2 whose LLM node lets `overrideConfig`
set its OpenAI key (Override Config on, the model config enabled) and whose
model answers slowly (a stand-in OpenAI answering after ~20 s), and an API key
with chatflows:view, executions:view and executions:delete. The gateway runs on
a fresh SQLite database in /tmp/measure/<label>; the flow is imported, a user's
canary key stored. Two cases, WAIT seconds into the run: a cancel
(`DELETE /v1/executions/{id}`), and `kill -9` of the gateway with an immediate
restart. Flowise's executions are polled every 100 ms; prints JSON: how long the
run went on, and how long its copy stayed after the run ended.
"""
import json, os, signal, subprocess, sys, time, urllib.request, uuid, shutil
BIN = os.path.abspath(sys.argv[1]); LABEL = sys.argv[2]; FLOW = os.environ["FLOW"]
FLOWISE = os.environ.get("FLOWISE_URL", "http://127.0.0.1:3100"); FKEY = os.environ["FLOWISE_API_KEY"]
D = f"/tmp/measure/{LABEL}"; shutil.rmtree(D, ignore_errors=True); os.makedirs(D)
PORT = int(os.environ.get("PORT", "8199"))
WAIT = float(os.environ.get("WAIT", "3"))
def cli(*args, stdin=None):
    r = subprocess.run([BIN, *args], cwd=D, env=ENV, input=stdin, capture_output=True, text=True)
    if r.returncode: raise SystemExit(f"{args}: {r.stderr}")
    return r.stdout
ENV = {k: v for k, v in os.environ.items() if not k.startswith("VIEAGENT_")}
ENV.update(VIEAGENT_DATABASE_URL=f"sqlite://{D}/gw.db", VIEAGENT_FLOWISE_URL=FLOWISE, VIEAGENT_FLOWISE_API_KEY=FKEY,
           VIEAGENT_DEMO="false", VIEAGENT_LOG_LEVEL="info", VIEAGENT_LISTEN=f"127.0.0.1:{PORT}",
           VIEAGENT_FLOWISE_CALL_TIMEOUT="120s")
ENV["VIEAGENT_MASTER_KEY"] = subprocess.run([BIN, "vault", "generate-key"], cwd=D, env=ENV, capture_output=True, text=True).stdout.strip()
cli("migrate"); cli("users", "create", "--email", "lab@example.com")
KEY = cli("keys", "create", "--user", "lab@example.com").strip()
CANARY = "sk-live-CANARY-" + uuid.uuid4().hex[:10]
cli("credentials", "set", "--user", "lab@example.com", "--provider", "openai", stdin=CANARY)
out = cli("agents", "import", "--engine", "flowise", "--flow-id", FLOW, "--tool-name", "lab_flow", "--publish")
def serve():
    log = open(f"{D}/serve.log", "a")
    p = subprocess.Popen([BIN, "serve"], cwd=D, env=ENV, stdout=log, stderr=log)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{PORT}/readyz", timeout=1); return p
        except Exception: time.sleep(0.05)
    raise SystemExit("no gateway")
def http(method, url, body=None, key=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None, method=method)
    if body is not None: req.add_header("content-type", "application/json")
    if key: req.add_header("authorization", "Bearer " + key)
    try:
        with urllib.request.urlopen(req, timeout=30) as r: return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e: return e.code, e.read().decode()
def runs(session):
    s, b = http("GET", f"{FLOWISE}/api/v1/executions?agentflowId={FLOW}&sessionId={session}", key=FKEY)
    return b["data"] if s == 200 else None
def start():
    s, b = http("POST", f"http://127.0.0.1:{PORT}/v1/tools/lab_flow/invoke", {"arguments": {"question": "a long report"}, "wait": False}, KEY)
    assert s == 202, (s, b); return b["execution_id"]
def watch(session, t0, limit=240):
    """Poll Flowise every 100 ms: when the run ended (state left INPROGRESS) and when it was gone."""
    end = gone = None; seen_key = False
    while time.time() - t0 < limit:
        data = runs(session)
        now = time.time()
        if data is not None:
            if any(CANARY in json.dumps(e) for e in data): seen_key = True
            if end is None and data and all(e["state"] != "INPROGRESS" for e in data): end = now
            if data == [] and end is None: end = now  # deleted before a poll saw it end
            if data == []: gone = now; break
        time.sleep(0.1)
    return end, gone, seen_key
def wait_inprogress(session):
    for _ in range(100):
        d = runs(session)
        if d and any(e["state"] == "INPROGRESS" for e in d): return
        time.sleep(0.1)
    raise SystemExit("the run never showed")
res = {"label": LABEL, "flow": FLOW}
gw = serve()
# 1. cancel
cid = start(); wait_inprogress(cid); time.sleep(WAIT)
t0 = time.time(); s, _ = http("DELETE", f"http://127.0.0.1:{PORT}/v1/executions/{cid}", key=KEY)
end, gone, seen = watch(cid, t0)
res["cancel"] = {"run_ended_after_cancel_s": round(end - t0, 2) if end else None,
                 "copy_gone_after_run_end_s": round(gone - end, 2) if gone and end else None, "key_seen_in_flowise": seen}
# 2. kill -9 and restart
kid = start(); wait_inprogress(kid); time.sleep(WAIT)
t0 = time.time(); gw.send_signal(signal.SIGKILL); gw.wait()
gw = serve(); ready = time.time()
end, gone, seen = watch(kid, t0, 200)
res["kill9"] = {"restart_ready_after_kill_s": round(ready - t0, 2),
                "run_ended_after_kill_s": round(end - t0, 2) if end else None,
                "copy_gone_after_run_end_s": round(gone - end, 2) if gone and end else None,
                "copy_gone_after_kill_s": round(gone - t0, 2) if gone else None, "key_seen_in_flowise": seen}
s, row = http("GET", f"http://127.0.0.1:{PORT}/v1/executions/{kid}", key=KEY)
res["kill9"]["row_status_after_restart"] = row.get("status") if isinstance(row, dict) else row
gw.terminate(); gw.wait()
res["key_in_gateway_log"] = CANARY in open(f"{D}/serve.log").read()
print(json.dumps(res))
