#!/usr/bin/env python3
"""The official MCP Python SDK (`pip install mcp`) against the real `vieagent`
binary, over all three transports: streamable HTTP, legacy SSE and stdio.

Usage: test_mcp_sdk.py /path/to/vieagent
Starts `vieagent serve --demo` on a fresh embedded database in a temp dir,
reads the demo API key from its banner, then for each transport: initialize,
list tools, call the demo tool, and check a schema violation comes back as a
tool error. Exits non-zero on any failure.
"""

import os
import re
import socket
import subprocess
import sys
import tempfile
import time

from typing import Any, Literal

import anyio
import httpx2
import mcp_types
from mcp import ClientSession
from mcp.client.client import Client
from mcp.client.extension import ClientExtension, ResultClaim
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def attr(obj, *names):
    for name in names:
        if hasattr(obj, name):
            return getattr(obj, name)
    raise AttributeError(names)


async def exercise(session: ClientSession, label: str) -> None:
    init = await session.initialize()
    server = attr(init, "server_info", "serverInfo")
    assert server.name == "vieagent", server
    tools = await session.list_tools()
    names = [t.name for t in tools.tools]
    assert "demo_echo" in names, names
    demo = next(t for t in tools.tools if t.name == "demo_echo")
    schema = attr(demo, "input_schema", "inputSchema")
    assert schema["required"] == ["message"], schema
    assert not (attr(demo, "meta", "_meta") or {}).get("ui"), "no app for a client without the extension"

    result = await session.call_tool("demo_echo", {"message": f"hello from {label}"})
    assert not attr(result, "is_error", "isError"), result
    text = result.content[0].text
    assert text == f"[demo echo] hello from {label}", text
    structured = attr(result, "structured_content", "structuredContent")
    assert structured["echo"] == f"hello from {label}", structured

    bad = await session.call_tool("demo_echo", {"wrong": 1})
    assert attr(bad, "is_error", "isError"), bad
    assert "missing required property" in bad.content[0].text, bad.content[0].text
    print(f"ok  {label}: initialize, tools/list ({len(names)} tools), tools/call, schema error")


# --- MCP Apps (io.modelcontextprotocol/ui): a client that declares the
# extension gets each tool's app; the sessions above, which do not, got
# plain tools (checked in exercise: no _meta.ui).

UI = "io.modelcontextprotocol/ui"
APP_MIME = "text/html;profile=mcp-app"


async def exercise_apps(session: ClientSession, label: str) -> None:
    init = await session.initialize()
    caps = attr(init, "capabilities")
    assert UI in (caps.extensions or {}), caps
    tools = await session.list_tools()
    demo = next(t for t in tools.tools if t.name == "demo_echo")
    meta = attr(demo, "meta", "_meta") or {}
    uri = meta["ui"]["resourceUri"]
    assert uri.startswith("ui://vieagent/agents/demo_echo?v="), meta
    listed = await session.list_resources()
    assert [str(r.uri) for r in listed.resources] == [uri], listed
    assert attr(listed.resources[0], "mime_type", "mimeType") == APP_MIME, listed
    read = await session.read_resource(uri)
    content = read.contents[0]
    assert attr(content, "mime_type", "mimeType") == APP_MIME, content
    assert content.text.startswith("<!doctype html>") and '"tool":"demo_echo"' in content.text
    print(f"ok  {label}: MCP Apps declared → _meta.ui.resourceUri, resources/list, resources/read")


# --- The Tasks extension (io.modelcontextprotocol/tasks, protocol 2026-07-28,
# SEP-2663). The SDK has no tasks API of its own: declare the extension,
# claim `resultType: "task"`, and send tasks/get and tasks/cancel as requests.


class _TaskFields(mcp_types.Result):
    task_id: str
    status: Literal["working", "input_required", "completed", "failed", "cancelled"]
    status_message: str | None = None
    created_at: str
    last_updated_at: str
    ttl_ms: int | None = None
    poll_interval_ms: int | None = None


class CreateTask(_TaskFields):
    result_type: Literal["task"]


class TaskState(_TaskFields):
    result_type: Literal["complete"] = "complete"
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    input_requests: dict[str, Any] | None = None


class TaskIdParams(mcp_types.RequestParams):
    task_id: str


class GetTask(mcp_types.Request[TaskIdParams, Literal["tasks/get"]]):
    method: Literal["tasks/get"] = "tasks/get"
    params: TaskIdParams
    name_param = "taskId"


class CancelTask(mcp_types.Request[TaskIdParams, Literal["tasks/cancel"]]):
    method: Literal["tasks/cancel"] = "tasks/cancel"
    params: TaskIdParams
    name_param = "taskId"


async def _resolve_unused(created, ctx):
    raise RuntimeError("tasks are polled with tasks/get here")


class Tasks(ClientExtension):
    identifier = "io.modelcontextprotocol/tasks"

    def claims(self):
        return (
            ResultClaim(
                result_type="task",
                model=CreateTask,
                resolve=_resolve_unused,
                protocol_versions=frozenset(MODERN_PROTOCOL_VERSIONS),
            ),
        )


async def poll(session, task_id: str) -> TaskState:
    for _ in range(300):
        state = await session.send_request(GetTask(params=TaskIdParams(task_id=task_id)), TaskState)
        if state.status in ("completed", "failed", "cancelled"):
            return state
        await anyio.sleep((state.poll_interval_ms or 500) / 1000)
    raise AssertionError(f"task {task_id} never ended")


TASK_MANIFEST = """name: Demo task {mode}
tool_name: demo_{mode}
description: The demo echo, run as a task ({mode}).
engine: flowise
flow_id: demo-{mode}
engine_config: {{builtin: demo}}
input_schema:
  type: object
  properties:
    message: {{type: string}}
    delay_ms: {{type: integer, minimum: 0, maximum: 10000}}
  required: [message]
  additionalProperties: false
credits_per_call: 0
task_mode: {mode}
status: published
"""


async def exercise_tasks(server, label: str) -> None:
    """`server()` gives what Client connects to (a fresh transport each time)."""
    async with Client(server(), extensions=[Tasks()]) as client:
        assert client.protocol_version == "2026-07-28", client.protocol_version
        s = client.session
        created = await s.call_tool("demo_always", {"message": "as a task", "delay_ms": 1500}, allow_claimed=True)
        assert isinstance(created, CreateTask), created
        assert created.status == "working" and created.ttl_ms, created
        done = await poll(s, created.task_id)
        assert done.status == "completed", done
        assert done.result["content"][0]["text"] == "[demo echo] as a task", done.result
        assert done.result["_meta"]["io.vieagent/execution_id"] == created.task_id, done.result

        created = await s.call_tool("demo_always", {"message": "stop me", "delay_ms": 10000}, allow_claimed=True)
        await s.send_request(CancelTask(params=TaskIdParams(task_id=created.task_id)), mcp_types.Result)
        cancelled = await poll(s, created.task_id)
        assert cancelled.status == "cancelled", cancelled

        quick = await s.call_tool("demo_auto", {"message": "quick"}, allow_claimed=True)
        assert not isinstance(quick, CreateTask), quick
        assert quick.content[0].text == "[demo echo] quick", quick

        try:
            await s.send_request(GetTask(params=TaskIdParams(task_id="7f0c1d2e-0000-4000-8000-000000000000")), TaskState)
            raise AssertionError("an unknown task was found")
        except MCPError as e:
            assert "unknown task" in str(e), e
    # Without the extension an always-task tool is refused with -32021.
    async with Client(server()) as client:
        try:
            await client.call_tool("demo_always", {"message": "no tasks"})
            raise AssertionError("a task-only tool ran for a client without tasks")
        except MCPError as e:
            assert e.error.code == -32021, e.error
        inline = await client.call_tool("demo_auto", {"message": "inline"})
        assert inline.content[0].text == "[demo echo] inline", inline
    print(f"ok  {label}: tasks extension (task polled to its result, cancelled, auto inline, -32021 without it)")


async def main(binary: str) -> None:
    workdir = tempfile.mkdtemp(prefix="vieagent-py-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    for key in list(env):
        if key.startswith("VIEAGENT_"):
            del env[key]
    env.update({"VIEAGENT_DATABASE_URL": f"sqlite://{workdir}/gateway.db", "VIEAGENT_LOG_LEVEL": "warn"})
    server = subprocess.Popen(
        [binary, "serve", "--demo", "--listen", f"127.0.0.1:{port}"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        key = None
        deadline = time.time() + 60
        banner = []
        while time.time() < deadline and key is None:
            line = server.stderr.readline()
            if not line:
                if server.poll() is not None:
                    break
                continue
            banner.append(line)
            found = re.search(r"(vak_[A-Za-z0-9]{40})", line)
            if found:
                key = found.group(1)
        assert key, "no demo key in the banner:\n" + "".join(banner)
        # Keep draining stderr so the server never blocks on a full pipe.
        import threading

        threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
        for _ in range(100):
            try:
                if httpx2.get(f"{base}/readyz").status_code == 200:
                    break
            except Exception:
                pass
            time.sleep(0.1)

        headers = {"Authorization": f"Bearer {key}"}
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            async with streamable_http_client(f"{base}/mcp", http_client=http) as streams:
                async with ClientSession(streams[0], streams[1]) as session:
                    await exercise(session, "streamable-http")

        # Protocol 2026-07-28 (stateless): the SDK's Client probes server/discover.
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            async with Client(streamable_http_client(f"{base}/mcp", http_client=http), mode="auto") as client:
                assert client.protocol_version == "2026-07-28", client.protocol_version
                tools = await client.list_tools()
                assert "demo_echo" in [t.name for t in tools.tools]
                result = await client.call_tool("demo_echo", {"message": "modern"})
                assert not result.is_error and result.content[0].text == "[demo echo] modern", result
                print("ok  streamable-http 2026-07-28 (stateless): discover, tools/list, tools/call")

        async with sse_client(f"{base}/sse", headers=headers) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await exercise(session, "sse")
        async with sse_client(f"{base}/sse", headers=headers) as streams:
            async with ClientSession(streams[0], streams[1], extensions={UI: {"mimeTypes": [APP_MIME]}}) as session:
                await exercise_apps(session, "sse")

        stdio_env = {
            "VIEAGENT_DATABASE_URL": f"sqlite://{workdir}/gateway.db",
            "VIEAGENT_API_KEY": key,
            "VIEAGENT_DEMO": "false",
            "VIEAGENT_LOG_LEVEL": "warn",
        }
        params = StdioServerParameters(command=binary, args=["stdio"], env=stdio_env, cwd=workdir)
        async with stdio_client(params) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await exercise(session, "stdio")
        async with stdio_client(params) as streams:
            async with ClientSession(streams[0], streams[1], extensions={UI: {"mimeTypes": [APP_MIME]}}) as session:
                await exercise_apps(session, "stdio")

        # Agents run as tasks (the demo engine, with a delay).
        manifests = os.path.join(workdir, "manifests")
        os.makedirs(manifests, exist_ok=True)
        for mode in ("always", "auto"):
            with open(os.path.join(manifests, f"{mode}.yaml"), "w") as f:
                f.write(TASK_MANIFEST.format(mode=mode))
        applied = subprocess.run(
            [binary, "agents", "apply", manifests, "--no-engine-check"],
            cwd=workdir,
            env={**stdio_env},
            capture_output=True,
            text=True,
        )
        assert applied.returncode == 0, applied.stderr
        for _ in range(100):
            tools = httpx2.get(f"{base}/v1/tools?format=mcp", headers=headers).json()["tools"]
            if {"demo_always", "demo_auto"} <= {t["name"] for t in tools}:
                break
            time.sleep(0.1)
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            await exercise_tasks(
                lambda: streamable_http_client(f"{base}/mcp", http_client=http), "streamable-http 2026-07-28"
            )
        await exercise_tasks(lambda: params, "stdio 2026-07-28")

        # A bad key is refused before any MCP traffic.
        status = httpx2.post(
            f"{base}/mcp",
            headers={"Authorization": "Bearer vak_wrong", "Accept": "application/json, text/event-stream"},
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
        ).status_code
        assert status == 401, status
        print("ok  bad API key -> 401")
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    assert server.returncode == 0, f"server exited with {server.returncode}"
    print("ok  server stopped cleanly on SIGTERM")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: test_mcp_sdk.py /path/to/vieagent")
    anyio.run(main, sys.argv[1])
