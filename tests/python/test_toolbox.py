#!/usr/bin/env python3
"""Each buyer's toolbox, through the official MCP Python SDK (`pip install mcp`),
against the real `vieagent` binary with `catalog.toolbox = "chosen"`.

Usage: test_toolbox.py /path/to/vieagent DATABASE_URL
DATABASE_URL is `sqlite` (a fresh file in a temp dir) or a PostgreSQL URL of an
empty database. For both protocol generations (a 2025-11-25 session over
streamable HTTP, and stateless 2026-07-28 with `subscriptions/listen`):

- a Vietnamese search without diacritics finds the agent;
- adding through `add_agent` delivers `tools/list_changed`, and the new tool
  can then be called in the same conversation;
- another user's toolbox is untouched;
- removing an agent stops it from being listed but keeps its history;
- a priced agent can be added, but calling it still needs a purchase;
- a toolset's own address (`/mcp/t/{toolset}`) shows only that toolset.
Exits non-zero on any failure.
"""

import base64
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

import anyio
import httpx2
import mcp_types
from mcp import ClientSession
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

DISCOVERY = {"search_agents", "add_agent", "remove_agent"}

MANIFESTS = {
    "tom_tat": """name: Tóm tắt văn bản
tool_name: tom_tat_van_ban
description: Tóm tắt một đoạn văn bản dài thành vài câu ngắn gọn.
engine: flowise
flow_id: demo-tom-tat
engine_config: {builtin: demo}
input_schema:
  type: object
  properties:
    message: {type: string}
  required: [message]
credits_per_call: 1
status: published
""",
    "dich": """name: Dịch thuật Anh Việt
tool_name: dich_thuat
description: Dịch văn bản giữa tiếng Anh và tiếng Việt.
engine: flowise
flow_id: demo-dich
engine_config: {builtin: demo}
input_schema:
  type: object
  properties:
    message: {type: string}
  required: [message]
credits_per_call: 1
status: published
""",
    "premium": """name: Báo cáo thị trường
tool_name: bao_cao_thi_truong
description: Báo cáo thị trường chứng khoán hằng tuần.
engine: flowise
flow_id: demo-bao-cao
engine_config: {builtin: demo}
input_schema:
  type: object
  properties:
    message: {type: string}
  required: [message]
price_one_time: "9.99"
credits_per_call: 1
status: published
""",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def attr(obj, *names):
    for name in names:
        if hasattr(obj, name):
            return getattr(obj, name)
    raise AttributeError(names)


def names(result) -> set:
    return {t.name for t in result.tools}


def structured(result) -> dict:
    return attr(result, "structured_content", "structuredContent") or {}


def is_error(result) -> bool:
    return bool(attr(result, "is_error", "isError"))


async def wait_for(event: anyio.Event, what: str) -> None:
    with anyio.fail_after(10):
        await event.wait()


class Gateway:
    def __init__(self, binary: str, database: str, workdir: str, master_key: str = ""):
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        extra = {}
        if database == "sqlite":
            database = f"sqlite://{workdir}/gateway.db"
        else:
            # PostgreSQL deployments must bring their own Vault key.
            extra["VIEAGENT_MASTER_KEY"] = master_key or base64.b64encode(os.urandom(32)).decode()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("VIEAGENT_")}
        self.env.update(
            {
                "VIEAGENT_DATABASE_URL": database,
                "VIEAGENT_LOG_LEVEL": "warn",
                "VIEAGENT_TOOLBOX": "chosen",
                "VIEAGENT_MARKETPLACE_AGENT_URL": "https://vieagent.vn/agents/{tool}",
                **extra,
            }
        )

    def cli(self, *args: str) -> str:
        done = subprocess.run([self.binary, *args], cwd=self.workdir, env=self.env, capture_output=True, text=True)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    def start(self, demo: bool = True) -> str:
        self.server = subprocess.Popen(
            [self.binary, "serve", "--demo" if demo else "--no-demo", "--listen", f"127.0.0.1:{self.port}"],
            cwd=self.workdir,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        key, banner, deadline = None, [], time.time() + 60
        while demo and time.time() < deadline and key is None:
            line = self.server.stderr.readline()
            if not line:
                if self.server.poll() is not None:
                    break
                continue
            banner.append(line)
            found = re.search(r"(vak_[A-Za-z0-9]{40})", line)
            if found:
                key = found.group(1)
        assert key or not demo, "no demo key in the banner:\n" + "".join(banner)
        threading.Thread(target=lambda: [None for _ in self.server.stderr], daemon=True).start()
        for _ in range(100):
            try:
                if httpx2.get(f"{self.base}/readyz").status_code == 200:
                    break
            except Exception:
                pass
            time.sleep(0.1)
        return key or ""

    def stop(self) -> None:
        self.server.terminate()
        try:
            self.server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.server.kill()
        assert self.server.returncode == 0, f"server exited with {self.server.returncode}"

    def user(self, email: str) -> str:
        self.cli("users", "create", "--email", email, "--credits", "100")
        out = self.cli("keys", "create", "--user", email)
        found = re.search(r"(vak_[A-Za-z0-9]{40})", out)
        assert found, out
        return found.group(1)

    def http(self, key: str) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)


async def search_finds_without_diacritics(call, label: str) -> None:
    found = await call("search_agents", {"query": "tom tat"})
    assert not is_error(found), found
    agents = structured(found)["agents"]
    assert agents and agents[0]["tool"] == "tom_tat_van_ban", agents
    assert agents[0]["name"] == "Tóm tắt văn bản" and agents[0]["in_toolbox"] is False, agents[0]
    assert "tom_tat_van_ban" in found.content[0].text
    # Vietnamese with its accents, and a filter: the priced one is not free.
    found = await call("search_agents", {"query": "báo cáo"})
    assert [a["tool"] for a in structured(found)["agents"]] == ["bao_cao_thi_truong"], structured(found)
    priced = structured(found)["agents"][0]
    assert priced["needs_purchase"] and priced["price"] == "9.99 USD one-time", priced
    assert priced["buy_url"] == "https://vieagent.vn/agents/bao_cao_thi_truong", priced
    assert structured(await call("search_agents", {"query": "bao cao", "free": True}))["agents"] == []
    print(f"ok  {label}: search_agents finds 'Tóm tắt văn bản' from 'tom tat'; filters and prices")


async def session_2025(gw: Gateway, key: str, other_key: str, execution_ids: list) -> None:
    """A 2025-11-25 session: notifications/tools/list_changed on the session's stream."""
    changed = anyio.Event()
    box = {"changed": changed}

    async def on_message(message) -> None:
        root = getattr(message, "root", message)
        if isinstance(root, mcp_types.ToolListChangedNotification) or getattr(root, "method", "") == (
            "notifications/tools/list_changed"
        ):
            box["changed"].set()

    async with gw.http(key) as http:
        async with streamable_http_client(f"{gw.base}/mcp", http_client=http) as streams:
            async with ClientSession(streams[0], streams[1], message_handler=on_message) as session:
                await session.initialize()
                first = names(await session.list_tools())
                assert first == DISCOVERY | {"demo_echo"}, ("the demo user's toolbox holds the demo tool", first)
                await search_finds_without_diacritics(session.call_tool, "2025-11-25")

                # Calling an agent outside the toolbox says how to add it.
                outside = await session.call_tool("tom_tat_van_ban", {"message": "x"})
                assert is_error(outside) and structured(outside)["error"]["kind"] == "not_in_toolbox", outside
                assert "add_agent" in outside.content[0].text

                added = await session.call_tool("add_agent", {"tool": "tom_tat_van_ban"})
                assert not is_error(added) and structured(added)["change"] == "added", added
                await wait_for(box["changed"], "tools/list_changed after add_agent")
                assert "tom_tat_van_ban" in names(await session.list_tools())
                ran = await session.call_tool("tom_tat_van_ban", {"message": "xin chào"})
                assert not is_error(ran), ran
                assert ran.content[0].text == "[demo echo] xin chào", ran.content[0].text
                execution_ids.append(ran.meta["io.vieagent/execution_id"])
                again = await session.call_tool("add_agent", {"tool": "tom_tat_van_ban"})
                assert structured(again)["change"] == "already_there", again
                print("ok  2025-11-25: add_agent -> tools/list_changed -> the new tool is listed and runs")

                # A priced agent: added, listed with its purchase line, not runnable.
                box["changed"] = anyio.Event()
                added = await session.call_tool("add_agent", {"tool": "bao_cao_thi_truong"})
                assert structured(added)["needs_purchase"] is True, added
                assert "9.99 USD" in added.content[0].text, added.content[0].text
                await wait_for(box["changed"], "tools/list_changed after adding the priced agent")
                listed = {t.name: t for t in (await session.list_tools()).tools}
                assert "9.99 USD" in (listed["bao_cao_thi_truong"].description or ""), listed["bao_cao_thi_truong"]
                refused = await session.call_tool("bao_cao_thi_truong", {"message": "x"})
                assert is_error(refused), refused
                assert structured(refused)["error"]["kind"] == "purchase_required", structured(refused)
                print("ok  2025-11-25: a priced agent can be added; calling it still needs a purchase")

                # Another user's toolbox is untouched.
                async with gw.http(other_key) as other_http:
                    async with streamable_http_client(f"{gw.base}/mcp", http_client=other_http) as other:
                        async with ClientSession(other[0], other[1]) as theirs:
                            await theirs.initialize()
                            assert names(await theirs.list_tools()) == DISCOVERY
                print("ok  2025-11-25: another user's toolbox is untouched")

                # Removing: no longer listed, history kept.
                box["changed"] = anyio.Event()
                removed = await session.call_tool("remove_agent", {"tool": "tom_tat_van_ban"})
                assert structured(removed)["change"] == "removed", removed
                await wait_for(box["changed"], "tools/list_changed after remove_agent")
                assert "tom_tat_van_ban" not in names(await session.list_tools())
                row = await http.get(f"{gw.base}/v1/executions/{execution_ids[-1]}")
                assert row.status_code == 200 and row.json()["status"] == "success", row.text
                print("ok  2025-11-25: remove_agent -> no longer listed; its run stays in the history")


async def stateless_2026(gw: Gateway, key: str, other_key: str) -> None:
    """Protocol 2026-07-28: no session; list changes arrive on subscriptions/listen."""
    async with gw.http(key) as http:
        async with Client(streamable_http_client(f"{gw.base}/mcp", http_client=http), mode="auto") as client:
            assert client.protocol_version == "2026-07-28", client.protocol_version
            before = names(await client.list_tools())
            assert DISCOVERY <= before and "dich_thuat" not in before, before
            await search_finds_without_diacritics(client.call_tool, "2026-07-28")
            async with client.listen(tools_list_changed=True) as subscription:
                added = await client.call_tool("add_agent", {"tool": "dich_thuat"})
                assert structured(added)["change"] == "added", added
                with anyio.fail_after(10):
                    async for event in subscription:
                        if type(event).__name__ == "ToolsListChanged":
                            break
                assert "dich_thuat" in names(await client.list_tools())
                ran = await client.call_tool("dich_thuat", {"message": "hello"})
                assert not is_error(ran) and ran.content[0].text == "[demo echo] hello", ran
                print("ok  2026-07-28: add_agent -> ToolsListChanged on subscriptions/listen -> listed and runs")
                removed = await client.call_tool("remove_agent", {"tool": "dich_thuat"})
                assert structured(removed)["change"] == "removed", removed
                with anyio.fail_after(10):
                    async for event in subscription:
                        if type(event).__name__ == "ToolsListChanged":
                            break
                assert "dich_thuat" not in names(await client.list_tools())
                print("ok  2026-07-28: remove_agent -> ToolsListChanged -> no longer listed")
    async with gw.http(other_key) as http:
        async with Client(streamable_http_client(f"{gw.base}/mcp", http_client=http), mode="auto") as client:
            assert names(await client.list_tools()) == DISCOVERY
    print("ok  2026-07-28: another user's toolbox is untouched")


async def toolsets(gw: Gateway, key: str) -> None:
    """A toolset's own address shows only that toolset."""
    async with gw.http(key) as http:
        put = await http.put(f"{gw.base}/v1/me/toolsets/writing/tom_tat_van_ban")
        assert put.status_code == 200 and put.json()["change"] == "added", put.text
        async with Client(streamable_http_client(f"{gw.base}/mcp/t/writing", http_client=http), mode="auto") as client:
            listed = names(await client.list_tools())
            assert listed == DISCOVERY | {"tom_tat_van_ban"}, listed
            refused = await client.call_tool("dich_thuat", {"message": "x"})
            assert is_error(refused) and structured(refused)["error"]["toolset"] == "writing", refused
            ran = await client.call_tool("tom_tat_van_ban", {"message": "viết"})
            assert not is_error(ran), ran
        async with streamable_http_client(f"{gw.base}/mcp/t/writing", http_client=http) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                added = await session.call_tool("add_agent", {"tool": "dich_thuat"})
                assert structured(added)["toolset"] == "writing", added
                assert names(await session.list_tools()) == DISCOVERY | {"tom_tat_van_ban", "dich_thuat"}
        toolbox = (await http.get(f"{gw.base}/v1/me/toolbox")).json()
        sets = {s["name"]: s for s in toolbox["toolsets"]}
        assert sets["writing"]["tools"] == ["dich_thuat", "tom_tat_van_ban"], toolbox
        assert sets["writing"]["mcp_url"].endswith("/mcp/t/writing"), toolbox
        assert {"dich_thuat", "tom_tat_van_ban"} <= {a["tool"] for a in toolbox["agents"]}, toolbox
    # The same toolset over stdio (`vieagent stdio --toolset writing`).
    env = {k: v for k, v in gw.env.items() if k.startswith("VIEAGENT_")}
    env.update({"VIEAGENT_API_KEY": key, "VIEAGENT_DEMO": "false"})
    params = StdioServerParameters(command=gw.binary, args=["stdio", "--toolset", "writing"], env=env, cwd=gw.workdir)
    async with stdio_client(params) as streams:
        async with ClientSession(streams[0], streams[1]) as session:
            await session.initialize()
            assert names(await session.list_tools()) == DISCOVERY | {"tom_tat_van_ban", "dich_thuat"}
            refused = await session.call_tool("bao_cao_thi_truong", {"message": "x"})
            assert structured(refused)["error"]["kind"] == "not_in_toolbox", refused
    print("ok  toolsets: /mcp/t/writing and stdio --toolset show and call only its agents; add_agent there fills it")


async def other_replica(gw: Gateway, replica: Gateway, key: str) -> None:
    """A change made through one replica reaches the user's session on another."""
    changed = anyio.Event()

    async def on_message(message) -> None:
        if getattr(getattr(message, "root", message), "method", "") == "notifications/tools/list_changed":
            changed.set()

    async with replica.http(key) as http:
        async with streamable_http_client(f"{replica.base}/mcp", http_client=http) as streams:
            async with ClientSession(streams[0], streams[1], message_handler=on_message) as session:
                await session.initialize()
                assert "dich_thuat" in names(await session.list_tools())
                async with gw.http(key) as there:
                    done = await there.delete(f"{gw.base}/v1/me/toolbox/dich_thuat")
                    assert done.status_code == 200 and done.json()["change"] == "removed", done.text
                await wait_for(changed, "tools/list_changed from the other replica")
                assert "dich_thuat" not in names(await session.list_tools())
    print("ok  replicas: a change through one replica reaches the session on the other (NOTIFY)")


async def main(binary: str, database: str) -> None:
    workdir = tempfile.mkdtemp(prefix="vieagent-toolbox-")
    gw = Gateway(binary, database, workdir)
    key = gw.start()
    try:
        manifests = os.path.join(workdir, "manifests")
        os.makedirs(manifests)
        for name, manifest in MANIFESTS.items():
            with open(os.path.join(manifests, f"{name}.yaml"), "w", encoding="utf-8") as f:
                f.write(manifest)
        gw.cli("agents", "apply", manifests, "--no-engine-check")
        other_key = gw.user("other@example.com")
        for _ in range(100):
            async with gw.http(key) as http:
                found = (await http.get(f"{gw.base}/v1/agents", params={"q": "dich thuat"})).json()
            if found["agents"]:
                break
            await anyio.sleep(0.1)
        execution_ids: list = []
        await session_2025(gw, key, other_key, execution_ids)
        await stateless_2026(gw, key, other_key)
        await toolsets(gw, key)
        if database != "sqlite":
            replica = Gateway(binary, database, workdir, gw.env["VIEAGENT_MASTER_KEY"])
            replica.start(demo=False)
            try:
                await other_replica(gw, replica, key)
            finally:
                replica.stop()
    finally:
        gw.stop()
    print(f"ok  toolbox on {'SQLite' if database == 'sqlite' else 'PostgreSQL'}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: test_toolbox.py /path/to/vieagent sqlite|postgres://…")
    anyio.run(main, sys.argv[1], sys.argv[2])
