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

import anyio
import httpx2
from mcp import ClientSession
from mcp.client.client import Client
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
