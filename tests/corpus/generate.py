#!/usr/bin/env python3
"""Generate the hostile-input corpus (tests/corpus/*.jsonl).

messages.jsonl: JSON-RPC message bodies, each run by tests/it/corpus.rs on
every MCP transport (streamable HTTP, legacy SSE, stdio) of the live server.
http.jsonl: HTTP requests (chat-tools API, admin API, MCP endpoints), some
as raw bytes on a TCP socket (headers with CR/LF and other things an HTTP
client library refuses to send).

Each case says what must happen:
  expect "error"  a JSON-RPC error (or a tool result with isError) / an HTTP
                  4xx whose body says what is wrong; `code` pins the code
  expect "ok"     a successful result; `echo` must appear in its text
  expect "none"   a notification: no reply
  status [..]     (http) the allowed statuses
and, for every case: no 5xx, no panic, the session still answers, nothing
in the database changes (except failed, unbilled journal rows).

Run `python3 tests/corpus/generate.py` after editing; the files are committed.
"""
import base64
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
TOOL = "demo_echo"

HOSTILE = {
    "path_traversal": "../../../../etc/passwd",
    "win_traversal": "..\\..\\windows\\system32",
    "url_encoded_traversal": "%2e%2e%2f%2e%2e%2fadmin",
    "sql_or": "' OR '1'='1' --",
    "sql_drop": "\"; DROP TABLE users; --",
    "sql_union": "1 UNION SELECT encrypted_value, iv FROM credentials",
    "flowise_vars": "{{$vars.openAIApiKey}}",
    "flowise_flow": "{{$flow.state.secret}}",
    "js_template": "${process.env.VIEAGENT_MASTER_KEY}",
    "jinja": "{{7*7}}{{config.items()}}",
    "erb": "<%= `id` %>",
    "ruby_interp": "#{File.read('/etc/passwd')}",
    "shell_subst": "$(cat /etc/passwd)",
    "backticks": "`rm -rf /`",
    "nul": "a\u0000b",
    "only_nul": "\u0000",
    "crlf": "line1\r\nX-Injected: 1\r\n\r\n",
    "rtl_override": "safe\u202egnp.exe",
    "zero_width": "demo\u200becho",
    "homoglyph": "dem\u043e_echo",
    "emoji": "\U0001F600" * 64,
    "html": "<script>alert(document.cookie)</script>",
    "json_in_string": "{\"jsonrpc\":\"2.0\",\"id\":99,\"method\":\"tools/call\"}",
    "format_string": "%s%s%s%n%x",
    "long_1k": "A" * 1024,
}

messages = []


class Parts:
    """A big body kept small on disk: the concatenation of text * times."""

    def __init__(self, *segments):
        self.segments = [[t, n] for t, n in segments]


def add(name, body, expect, **extra):
    case = {"name": name, "expect": expect}
    if isinstance(body, Parts):
        case["body_parts"] = body.segments
    elif isinstance(body, bytes):
        case["body_b64"] = base64.b64encode(body).decode()
    elif isinstance(body, str):
        case["body"] = body
    else:
        case["body"] = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    case.update(extra)
    messages.append(case)


def rpc(method, params=None, id_=1, **extra):
    m = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        m["params"] = params
    m.update(extra)
    return m


def call(arguments, name=TOOL, id_=1):
    return rpc("tools/call", {"name": name, "arguments": arguments}, id_)


# --- malformed JSON -------------------------------------------------------
# Blank lines on stdio are not messages (skipped); over HTTP they are errors.
add("malformed/empty", "", "error", stdio_expect="none")
add("malformed/whitespace", "   ", "error", stdio_expect="none")
for name, text in [
    ("open_brace", "{"),
    ("close_brace", "}"),
    ("open_bracket", "["),
    ("truncated_request", '{"jsonrpc":"2.0","id":1,"method":"tools/list"'),
    ("trailing_garbage", '{"jsonrpc":"2.0","id":1,"method":"ping"} garbage'),
    ("two_messages", '{"jsonrpc":"2.0","id":1,"method":"ping"}{"jsonrpc":"2.0","id":2,"method":"ping"}'),
    ("single_quotes", "{'jsonrpc':'2.0','id':1,'method':'ping'}"),
    ("comment", '{"jsonrpc":"2.0",/* c */"id":1,"method":"ping"}'),
    ("nan", '{"jsonrpc":"2.0","id":NaN,"method":"ping"}'),
    ("infinity", '{"jsonrpc":"2.0","id":Infinity,"method":"ping"}'),
    ("unquoted_keys", '{jsonrpc:"2.0",id:1,method:"ping"}'),
    ("trailing_comma", '{"jsonrpc":"2.0","id":1,"method":"ping",}'),
    ("lone_surrogate", '{"jsonrpc":"2.0","id":1,"method":"\\ud800"}'),
    ("bad_escape", '{"jsonrpc":"2.0","id":1,"method":"\\x41"}'),
    ("control_char_raw", '{"jsonrpc":"2.0","id":1,"method":"pi\tng"}'),
    ("bom", "\ufeff" + '{"jsonrpc":"2.0","id":1,"method":"ping"}'),
    ("xml", "<?xml version='1.0'?><methodCall/>"),
    ("number", "123"),
    ("string", '"ping"'),
    ("true", "true"),
    ("null", "null"),
]:
    add(f"malformed/{name}", text, "error")
add("malformed/invalid_utf8", b'{"jsonrpc":"2.0","id":1,"method":"\xff\xfe"}', "error", code=-32700)
add("malformed/invalid_utf8_in_arguments", b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"demo_echo","arguments":{"message":"\xc3\x28"}}}', "error", code=-32700)
add("malformed/overlong_utf8", b'{"jsonrpc":"2.0","id":1,"method":"\xc0\xaf"}', "error", code=-32700)

# --- the jsonrpc member -----------------------------------------------------
for name, version in [("1.0", "1.0"), ("2", "2"), ("number", 2.0), ("null", None), ("empty", ""),
                      ("padded", " 2.0"), ("array", ["2.0"]), ("object", {"v": "2.0"}), ("3.0", "3.0")]:
    add(f"jsonrpc/{name}", {"jsonrpc": version, "id": 1, "method": "ping"}, "error", code=-32600)
add("jsonrpc/missing", {"id": 1, "method": "ping"}, "error", code=-32600)

# --- ids of every JSON type ---------------------------------------------------
for name, id_, ok in [
    ("int", 7, True), ("zero", 0, True), ("negative", -5, True), ("string", "abc", True),
    ("empty_string", "", True), ("max_i64", 9223372036854775807, True), ("uuid", "0b9e2c1e-4a8e-4bb4-9d5c-1f0c2b3a4d5e", True),
    ("null", None, False), ("float", 1.5, False), ("huge_float", 1e308, False), ("true", True, False),
    ("false", False, False), ("object", {"a": 1}, False), ("array", [1], False), ("empty_array", [], False),
]:
    if ok:
        add(f"id/{name}", rpc("ping", id_=id_), "ok", id=id_)
    else:
        add(f"id/{name}", rpc("ping", id_=id_), "error", code=-32600)
for name, text in HOSTILE.items():
    add(f"id/hostile_{name}", rpc("tools/list", id_=text), "ok", id=text)
add("id/string_100k", Parts(('{"jsonrpc":"2.0","id":"', 1), ("i", 100_000), ('","method":"ping"}', 1)), "ok")

# --- methods --------------------------------------------------------------------
for name, method in [("unknown", "tools/destroy"), ("rpc_discover", "rpc.discover"), ("admin", "admin/users"),
                     ("resources_read", "resources/read"), ("prompts_get", "prompts/get"), ("sampling", "sampling/createMessage"),
                     ("upper", "TOOLS/LIST"), ("trailing_slash", "tools/list/"), ("space", "tools list")]:
    add(f"method/{name}", rpc(method, {}), "error")
add("method/long", Parts(('{"jsonrpc":"2.0","id":1,"method":"', 1), ("m", 10_000), ('"}', 1)), "error", code=-32600)
for name, method in [("empty", ""), ("nul", "tools/list\u0000"), ("newline", "ping\n")]:
    add(f"method/{name}", rpc(method), "error", code=-32600)
for name, method in [("number", 42), ("null", None), ("object", {"m": 1}), ("array", ["ping"]), ("bool", True)]:
    add(f"method/{name}", {"jsonrpc": "2.0", "id": 1, "method": method}, "error", code=-32600)
for name, text in HOSTILE.items():
    if len(text) <= 128 and not any(c < " " for c in text):
        add(f"method/hostile_{name}", rpc(text, {}), "error")
add("method/missing", {"jsonrpc": "2.0", "id": 1}, "error", code=-32600)
add("method/response_without_id", {"jsonrpc": "2.0", "result": {}}, "error", code=-32600)

# --- batches --------------------------------------------------------------------
add("batch/empty", [], "error", code=-32600)
add("batch/one", [rpc("ping")], "error", code=-32600)
add("batch/numbers", [1, 2, 3], "error", code=-32600)
add("batch/nested", [[rpc("ping")]], "error", code=-32600)
add("batch/notifications", [{"jsonrpc": "2.0", "method": "notifications/initialized"}] * 3, "error", code=-32600)
add("batch/thousand_calls", [call({"message": "x"}, id_=i) for i in range(1000)], "error", code=-32600)

# --- params ---------------------------------------------------------------------
add("params/call_missing", rpc("tools/call"), "error", code=-32602)
add("params/call_null", rpc("tools/call", None) | {"params": None}, "error", code=-32602)
add("params/call_array", rpc("tools/call", [TOOL, {}]), "error", code=-32602)
add("params/call_string", rpc("tools/call", TOOL), "error", code=-32602)
add("params/call_no_name", rpc("tools/call", {"arguments": {"message": "x"}}), "error", code=-32602)
add("params/call_empty_name", rpc("tools/call", {"name": "", "arguments": {}}), "error", code=-32602)
add("params/call_name_number", rpc("tools/call", {"name": 5}), "error", code=-32602)
add("params/call_name_null", rpc("tools/call", {"name": None}), "error", code=-32602)
add("params/call_name_array", rpc("tools/call", {"name": [TOOL]}), "error", code=-32602)
add("params/arguments_string", rpc("tools/call", {"name": TOOL, "arguments": "{\"message\":\"x\"}"}), "error", code=-32602)
add("params/arguments_array", rpc("tools/call", {"name": TOOL, "arguments": ["x"]}), "error", code=-32602)
add("params/arguments_number", rpc("tools/call", {"name": TOOL, "arguments": 1}), "error", code=-32602)
add("params/list_array", rpc("tools/list", [1, 2]), "error", code=-32602)
add("params/list_string", rpc("tools/list", "all"), "error", code=-32602)
add("params/list_bad_cursor", rpc("tools/list", {"cursor": "../../etc"}), "error")
add("params/list_cursor_number", rpc("tools/list", {"cursor": 5}), "error")
add("params/extra_top_level", rpc("ping") | {"extra": {"a": 1}, "debug": True}, "any")
add("params/thousand_extra_params", rpc("tools/list", {f"k{i}": i for i in range(1000)}), "any")
add("params/meta_garbage", rpc("tools/call", {"name": TOOL, "arguments": {"message": "m"}, "_meta": {"progressToken": {"x": [1]}}}), "any")
add("params/unknown_notification", {"jsonrpc": "2.0", "method": "notifications/unknown", "params": {"a": 1}}, "none")
add("params/cancel_unknown_request", {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 424242, "reason": "x"}}, "none")
add("params/cancel_garbage", {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": {"a": 1}}}, "none")

# --- arguments of a real tool ---------------------------------------------------
add("args/missing_required", call({}), "error")
add("args/wrong_type_number", call({"message": 5}), "error")
add("args/wrong_type_null", call({"message": None}), "error")
add("args/wrong_type_object", call({"message": {"a": 1}}), "error")
add("args/wrong_type_array", call({"message": ["a"]}), "error")
add("args/extra_property", call({"message": "m", "admin": True}), "error")
add("args/delay_negative", call({"message": "m", "delay_ms": -1}), "error")
add("args/delay_too_big", call({"message": "m", "delay_ms": 10**12}), "error")
add("args/delay_float", call({"message": "m", "delay_ms": 1.5}), "error")
add("args/delay_string", call({"message": "m", "delay_ms": "10"}), "error")
add("args/over_max_length", call({"message": "a" * 10_001}), "error")
add("args/at_max_length", call({"message": "a" * 10_000}), "ok")
add("args/huge_array", Parts(('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"demo_echo","arguments":{"message":"m","list":[', 1), ("1,", 99_999), ("1]}}}", 1)), "error")
add("args/deep_128", call({"message": "m", "deep": json.loads("[" * 100 + "]" * 100)}), "error")
add("args/deep_10000", Parts(('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"demo_echo","arguments":{"message":', 1), ("[", 10_000), ("]", 10_000), ("}}}", 1)), "error", code=-32700)
add("args/body_over_limit", Parts(('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"demo_echo","arguments":{"message":"', 1), ("x", 5 * 1024 * 1024), ('"}}}', 1)), "error")
for name, text in HOSTILE.items():
    add(f"args/value_{name}", call({"message": text}), "ok", echo=text)
    add(f"args/key_{name}", call({"message": "m", text: "v"}), "error")
    add(f"tool/{name}", call({"message": "m"}, name=text), "error")
for name, tool in [("empty_after_trim", " "), ("upper", "DEMO_ECHO"), ("suffix_slash", "demo_echo/"),
                   ("prefix_dotdot", "../demo_echo"), ("wildcard", "*"), ("regex", "demo_.*"),
                   ("openai_prefix", "functions.demo_echo"), ("nul_suffix", "demo_echo\u0000")]:
    add(f"tool/{name}", call({"message": "m"}, name=tool), "error")

add("tool/long", Parts(('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"', 1), ("t", 100_000), ('","arguments":{"message":"m"}}}', 1)), "error")

# --- progress tokens with hostile values ----------------------------------------
for name, text in HOSTILE.items():
    add(f"meta/progress_{name}", rpc("tools/call", {"name": TOOL, "arguments": {"message": "p"}, "_meta": {"progressToken": text}}), "ok", echo="p")

with open(os.path.join(HERE, "messages.jsonl"), "w") as f:
    for case in messages:
        f.write(json.dumps(case, ensure_ascii=True, separators=(",", ":")) + "\n")

# ============================================================================
# HTTP requests
http = []


def req(name, method, path, *, auth="user", body=None, headers=None, status, contains=None):
    case = {"name": name, "method": method, "path": path, "auth": auth, "status": status}
    if isinstance(body, Parts):
        case["body_parts"] = body.segments
    elif body is not None:
        case["body"] = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
    if headers:
        case["headers"] = headers
    if contains:
        case["contains"] = contains
    http.append(case)


def raw(name, text, *, status, contains=None):
    case = {"name": name, "status": status}
    if isinstance(text, Parts):
        case["raw_parts"] = text.segments
    else:
        case["raw"] = text
    if contains:
        case["contains"] = contains
    http.append(case)


J = {"content-type": "application/json"}
# chat-tools API
req("chat/invoke_unknown_tool", "POST", "/v1/tools/nope/invoke", body={"arguments": {}}, headers=J, status=[404], contains="no tool named")
req("chat/invoke_dotdot_tool", "POST", "/v1/tools/..%2F..%2Fadmin/invoke", body={"arguments": {}}, headers=J, status=[404])
req("chat/invoke_arguments_array", "POST", f"/v1/tools/{TOOL}/invoke", body={"arguments": [1]}, headers=J, status=[400, 422], contains="arguments")
req("chat/invoke_body_array", "POST", f"/v1/tools/{TOOL}/invoke", body=[1, 2], headers=J, status=[400, 422])
req("chat/invoke_not_json", "POST", f"/v1/tools/{TOOL}/invoke", body="{nope", headers=J, status=[400])
req("chat/invoke_wrong_content_type", "POST", f"/v1/tools/{TOOL}/invoke", body='{"arguments":{}}', headers={"content-type": "text/plain"}, status=[415])
req("chat/invoke_no_auth", "POST", f"/v1/tools/{TOOL}/invoke", auth="none", body={"arguments": {"message": "x"}}, headers=J, status=[401])
req("chat/invoke_bad_key", "POST", f"/v1/tools/{TOOL}/invoke", auth="bad", body={"arguments": {"message": "x"}}, headers=J, status=[401])
req("chat/invoke_admin_token_as_user", "POST", f"/v1/tools/{TOOL}/invoke", auth="admin", body={"arguments": {"message": "x"}}, headers=J, status=[401, 403])
req("chat/invoke_invalid_args", "POST", f"/v1/tools/{TOOL}/invoke", body={"arguments": {"message": 5}}, headers=J, status=[200, 400, 422], contains="message")
req("chat/invoke_deep", "POST", f"/v1/tools/{TOOL}/invoke", body=Parts(('{"arguments":{"message":', 1), ("[", 10_000), ("]", 10_000), ("}}", 1)), headers=J, status=[400, 422])
req("chat/invoke_nul_in_key", "POST", f"/v1/tools/{TOOL}/invoke", body={"arguments": {"message\u0000": "x"}}, headers=J, status=[200, 400, 422])
req("chat/tool_calls_bad_arguments_json", "POST", "/v1/tool_calls", body={"tool_calls": [{"id": "c1", "type": "function", "function": {"name": TOOL, "arguments": "{"}}]}, headers=J, status=[200, 400, 422])
req("chat/tool_calls_not_array", "POST", "/v1/tool_calls", body={"tool_calls": "x"}, headers=J, status=[400, 422])
req("chat/tool_calls_empty", "POST", "/v1/tool_calls", body={}, headers=J, status=[400, 422])
req("chat/tool_calls_unknown_tool", "POST", "/v1/tool_calls", body={"tool_calls": [{"id": "c1", "type": "function", "function": {"name": "../x", "arguments": "{}"}}]}, headers=J, status=[200, 400, 404, 422])
req("chat/execution_not_uuid", "GET", "/v1/executions/..%2F..%2Fetc", status=[400, 404])
req("chat/execution_other_user", "GET", "/v1/executions/{other_execution}", status=[404])
req("chat/execution_random", "GET", "/v1/executions/00000000-0000-4000-8000-000000000000", status=[404])
req("chat/tools_bad_format", "GET", "/v1/tools?format=../../x", status=[400, 422])
req("chat/body_over_limit", "POST", f"/v1/tools/{TOOL}/invoke", body=Parts(('{"arguments":{"message":"', 1), ("x", 9 * 1024 * 1024), ('"}}', 1)), headers=J, status=[413])
for name, text in HOSTILE.items():
    req(f"chat/path_tool_{name}", "GET", "/v1/tools/" + "".join(c if c.isalnum() else "%%%02X" % ord(c) for c in text.encode("utf-8").decode("latin-1")) + "/invoke", status=[404, 405])
    req(f"chat/query_{name}", "GET", "/v1/tools?format=" + "".join(c if c.isalnum() else "%%%02X" % b for b in text.encode("utf-8")[:200] for c in [chr(b)]), status=[400, 422])
# admin API with the wrong credentials
for name, (method, path) in {
    "users_list": ("GET", "/admin/v1/users"),
    "agents_create": ("POST", "/admin/v1/agents"),
    "credentials": ("GET", "/admin/v1/users/{user}/credentials"),
    "keys": ("GET", "/admin/v1/users/{user}/keys"),
    "executions": ("GET", "/admin/v1/executions"),
    "credits": ("POST", "/admin/v1/users/{user}/credits"),
}.items():
    body = {} if method == "POST" else None
    req(f"admin/user_key_{name}", method, path, auth="user", body=body, headers=J if body is not None else None, status=[401, 403])
    req(f"admin/no_auth_{name}", method, path, auth="none", body=body, headers=J if body is not None else None, status=[401])
    req(f"admin/bad_token_{name}", method, path, auth="bad", body=body, headers=J if body is not None else None, status=[401])
# MCP endpoints over HTTP
req("mcp/no_auth", "POST", "/mcp", auth="none", body={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers={**J, "accept": "application/json, text/event-stream"}, status=[401])
req("mcp/bad_key", "POST", "/mcp", auth="bad", body={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers={**J, "accept": "application/json, text/event-stream"}, status=[401])
req("mcp/wrong_session", "POST", "/mcp", body={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers={**J, "accept": "application/json, text/event-stream", "mcp-session-id": "00000000-0000-4000-8000-000000000000", "mcp-protocol-version": "2025-11-25"}, status=[400, 404])
req("mcp/evil_host", "POST", "/mcp", body={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers={**J, "accept": "application/json, text/event-stream", "host": "evil.example"}, status=[403, 421, 400])
req("mcp/evil_origin", "GET", "/sse", headers={"origin": "https://evil.example", "host": "evil.example"}, status=[403, 421, 400])
req("sse/other_users_session", "POST", "/messages?sessionId={other_session}", body={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=J, status=[404])
req("sse/random_session", "POST", "/messages?sessionId=00000000-0000-4000-8000-000000000000", body={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=J, status=[404])
req("sse/dotdot_session", "POST", "/messages?sessionId=..%2F..%2Fetc", body={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=J, status=[404])
req("sse/missing_session", "POST", "/messages", body={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=J, status=[400])
req("sse/empty_session", "POST", "/messages?sessionId=", body={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=J, status=[400])
# raw requests: things HTTP libraries refuse to send
R = "Host: {host}\r\n"
raw("raw/bare_cr_in_header", "GET /v1/me HTTP/1.1\r\n" + R + "Authorization: Bearer {key}\r\nX-Bad: a\rb\r\n\r\n", status=[400])
# A bare LF ends a header line (RFC 9112 2.2 lets a server accept it): this
# is two headers, the second the client's own key, so it may succeed.
raw("raw/bare_lf_header_split", "GET /v1/me HTTP/1.1\r\n" + R + "X-Bad: a\nAuthorization: Bearer {key}\r\n\r\n", status=[200, 400])
raw("raw/crlf_in_bearer", "GET /v1/me HTTP/1.1\r\n" + R + "Authorization: Bearer {key}\r\n X-Folded: yes\r\n\r\n", status=[400, 401])
raw("raw/nul_in_header", "GET /v1/me HTTP/1.1\r\n" + R + "Authorization: Bearer {key}\r\nX-Nul: a\u0000b\r\n\r\n", status=[400])
raw("raw/nul_in_path", "GET /v1/tools/demo\u0000echo/invoke HTTP/1.1\r\n" + R + "Authorization: Bearer {key}\r\n\r\n", status=[400, 404])
raw("raw/dotdot_path", "GET /v1/../admin/v1/users HTTP/1.1\r\n" + R + "Authorization: Bearer {key}\r\n\r\n", status=[400, 401, 403, 404])
raw("raw/absolute_uri_other_host", "GET http://evil.example/v1/me HTTP/1.1\r\n" + R + "Authorization: Bearer {key}\r\n\r\n", status=[200, 400, 403, 404, 421])
raw("raw/two_content_lengths", "POST /v1/tools/demo_echo/invoke HTTP/1.1\r\n" + R + "Authorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\n{\"a\":", status=[400])
raw("raw/cl_and_te", "POST /v1/tools/demo_echo/invoke HTTP/1.1\r\n" + R + "Authorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status=[400, 422])
raw("raw/bad_chunk", "POST /v1/tools/demo_echo/invoke HTTP/1.1\r\n" + R + "Authorization: Bearer {key}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", status=[400])
raw("raw/huge_header", Parts(("GET /v1/me HTTP/1.1\r\n" + R + "Authorization: Bearer {key}\r\nX-Big: ", 1), ("a", 1_000_000), ("\r\n\r\n", 1)), status=[400, 431])
raw("raw/http_0_9", "GET /v1/me\r\n\r\n", status=[400, 505])
raw("raw/bad_method", "G\u0000T /v1/me HTTP/1.1\r\n" + R + "\r\n", status=[400])
raw("raw/no_host", "GET /healthz HTTP/1.1\r\n\r\n", status=[200, 400])
raw("raw/lowercase_bearer_nonsense", "GET /v1/me HTTP/1.1\r\n" + R + "Authorization: bearer\r\n\r\n", status=[401])
raw("raw/basic_auth", "GET /v1/me HTTP/1.1\r\n" + R + "Authorization: Basic YWRtaW46YWRtaW4=\r\n\r\n", status=[401])

with open(os.path.join(HERE, "http.jsonl"), "w") as f:
    for case in http:
        f.write(json.dumps(case, ensure_ascii=True, separators=(",", ":")) + "\n")

print(f"{len(messages)} message cases, {len(http)} HTTP cases, {len(messages) + len(http)} in all")
