#!/usr/bin/env python3
"""OAuth 2.1 end to end with the official MCP Python SDK's OAuth client
(`mcp.client.auth.OAuthClientProvider`) against the real `vieagent` binary
and a real OpenID provider (panva/oidc-provider, tests/oidc/provider.mjs).

Usage: test_oauth.py /path/to/vieagent
The SDK does the whole dance by itself: 401 from /mcp -> Protected Resource
Metadata -> authorization-server metadata -> dynamic client registration ->
authorization code + PKCE with the RFC 8707 `resource` parameter (the login
page is answered by this script, as a browser would) -> token -> list and
call tools over streamable HTTP (and legacy SSE). Then the journal row of the
call belongs to the user the identity was provisioned as. Exits non-zero on
any failure.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlparse

import anyio
import httpx2
from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)

ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "oauth-test-admin-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MemoryStorage(TokenStorage):
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client

    async def set_client_info(self, client_info):
        self.client = client_info


class Browser:
    """The user's browser: opens the authorization URL, signs in as `login`
    (the provider's login page takes login_hint) and follows redirects
    until the one to the client's redirect URI, whose code it hands back."""

    def __init__(self, login: str, redirect_uri: str) -> None:
        self.login = login
        self.redirect_uri = redirect_uri
        self.result: AuthorizationCodeResult | None = None
        self.seen_resource: str | None = None

    async def redirect(self, authorization_url: str) -> None:
        query = parse_qs(urlparse(authorization_url).query)
        assert query.get("code_challenge_method") == ["S256"], query
        self.seen_resource = query.get("resource", [None])[0]
        url = authorization_url + "&" + urlencode({"login_hint": self.login})
        async with httpx2.AsyncClient(follow_redirects=False, timeout=30) as browser:
            for _ in range(20):
                response = await browser.get(url)
                assert response.status_code in (302, 303), (response.status_code, response.text[:500])
                url = urljoin(url, response.headers["location"])
                if url.startswith(self.redirect_uri):
                    params = parse_qs(urlparse(url).query)
                    assert "code" in params, params
                    self.result = AuthorizationCodeResult(
                        code=params["code"][0],
                        state=params.get("state", [None])[0],
                        iss=params.get("iss", [None])[0],
                    )
                    return
        raise AssertionError("the authorization never redirected back to the client")

    async def callback(self) -> AuthorizationCodeResult:
        assert self.result is not None
        return self.result


def start(cmd, env, cwd):
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc


async def main(binary: str) -> None:
    workdir = tempfile.mkdtemp(prefix="vieagent-oauth-")
    provider = start(["node", str(ROOT / "tests/oidc/provider.mjs")], dict(os.environ), ROOT / "tests/oidc")
    server = None
    try:
        line = provider.stdout.readline()
        assert line, "the OpenID provider did not start: " + provider.stderr.read()
        issuer = json.loads(line)["issuer"]
        threading.Thread(target=lambda: [None for _ in provider.stderr], daemon=True).start()
        httpx2.post(
            f"{issuer}/test/accounts",
            json={"sub": "alice-sub", "email": "alice@example.com", "email_verified": True, "name": "Alice"},
        ).raise_for_status()

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIEAGENT_")}
        env.update(
            {
                "VIEAGENT_DATABASE_URL": f"sqlite://{workdir}/gateway.db",
                "VIEAGENT_LOG_LEVEL": "info",
                "VIEAGENT_OIDC_ISSUER": issuer,
                "VIEAGENT_OIDC_AUTO_PROVISION": "true",
                "VIEAGENT_ADMIN_TOKEN": ADMIN_TOKEN,
            }
        )
        server = subprocess.Popen(
            [binary, "serve", "--demo", "--listen", f"127.0.0.1:{port}"],
            cwd=workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        log: list[str] = []
        threading.Thread(target=lambda: [log.append(l) for l in server.stderr], daemon=True).start()
        for _ in range(200):
            try:
                if httpx2.get(f"{base}/readyz").status_code == 200:
                    break
            except Exception:
                pass
            time.sleep(0.1)

        # The challenge a client without credentials sees.
        bare = httpx2.post(
            f"{base}/mcp",
            headers={"Accept": "application/json, text/event-stream"},
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
        )
        assert bare.status_code == 401, bare.status_code
        challenge = bare.headers["www-authenticate"]
        assert f'resource_metadata="{base}/.well-known/oauth-protected-resource/mcp"' in challenge, challenge
        assert 'scope="vieagent:tools"' in challenge and "error=" not in challenge, challenge
        print("ok  401 challenge names the resource metadata and the scope")

        callback_port = free_port()
        redirect_uri = f"http://127.0.0.1:{callback_port}/callback"
        browser = Browser("alice-sub", redirect_uri)
        storage = MemoryStorage()
        oauth = OAuthClientProvider(
            server_url=f"{base}/mcp",
            client_metadata=OAuthClientMetadata(
                client_name="vieagent OAuth test",
                redirect_uris=[redirect_uri],
                grant_types=["authorization_code", "refresh_token"],
                response_types=["code"],
                token_endpoint_auth_method="none",
            ),
            storage=storage,
            redirect_handler=browser.redirect,
            callback_handler=browser.callback,
        )
        async with httpx2.AsyncClient(auth=oauth, timeout=30) as http:
            async with streamable_http_client(f"{base}/mcp", http_client=http) as streams:
                async with ClientSession(streams[0], streams[1]) as session:
                    await session.initialize()
                    tools = await session.list_tools()
                    names = [t.name for t in tools.tools]
                    assert "demo_echo" in names, names
                    result = await session.call_tool("demo_echo", {"message": "hello over OAuth"})
                    assert not result.is_error, result
                    assert result.content[0].text == "[demo echo] hello over OAuth", result
        assert storage.client is not None and storage.client.client_id, "no dynamic client registration"
        assert storage.tokens is not None
        assert browser.seen_resource == f"{base}/mcp", browser.seen_resource
        print(
            "ok  streamable HTTP: discovery from the 401, DCR, code + PKCE with resource, "
            f"tools/list ({len(names)} tools), tools/call"
        )

        # The same token over legacy SSE (its own resource metadata says /sse;
        # the gateway accepts a token for any of its resources).
        token = storage.tokens.access_token
        async with sse_client(f"{base}/sse", headers={"Authorization": f"Bearer {token}"}) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                result = await session.call_tool("demo_echo", {"message": "sse"})
                assert not result.is_error, result
        print("ok  legacy SSE with the access token")

        # The identity was provisioned as a user, and the journal rows are its.
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        users = httpx2.get(f"{base}/admin/v1/users", headers=admin).json()
        alice = next(u for u in users["items"] if u["email"] == "alice@example.com")
        logs = httpx2.get(f"{base}/admin/v1/executions", params={"user_id": alice["id"]}, headers=admin).json()
        rows = [r for r in logs["items"] if r["status"] == "success"]
        assert len(rows) == 2, logs
        assert all(r["user_id"] == alice["id"] for r in rows), rows
        audit = httpx2.get(f"{base}/admin/v1/audit", headers=admin).json()
        assert any(e["action"] == "user.provision" and e["target_id"] == alice["id"] for e in audit["items"]), audit
        print("ok  provisioned user alice@example.com owns the journal rows; audit has user.provision")

        # The token never reaches logs.
        assert token not in "".join(log), "the access token appears in the gateway's log"
        print("ok  the access token is not in the gateway's log")
    finally:
        for proc in (server, provider):
            if proc is None:
                continue
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: test_oauth.py /path/to/vieagent")
    anyio.run(main, sys.argv[1])
