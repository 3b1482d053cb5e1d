// Test MCP Apps host (io.modelcontextprotocol/ui, spec 2026-01-26) for the
// WebDriver integration test. Built with the official packages only:
//   - @modelcontextprotocol/client: Client + StreamableHTTPClientTransport
//   - @modelcontextprotocol/ext-apps/app-bridge: AppBridge + PostMessageTransport
//
// Parameters come from location.hash as URL-encoded JSON:
//   {gateway, key, tool, arguments, callFirst, theme, locale, width,
//    refuseLinks, hold}
// State is exposed on window.__host (see `state` below) and mirrored as JSON
// into <pre id="host-state">; any failure also lands in <pre id="host-error">.

import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import {
  AppBridge,
  PostMessageTransport,
  RESOURCE_MIME_TYPE,
  getToolUiResourceUri,
} from "@modelcontextprotocol/ext-apps/app-bridge";
// The /server entry point has no runtime imports: it only carries the constant.
import { EXTENSION_ID } from "@modelcontextprotocol/ext-apps/server";

const HOST_INFO = { name: "vieagent-test-host", version: "1.0.0" };

const THEME_VARIABLES = {
  light: {
    "--color-background-primary": "#ffffff",
    "--color-background-secondary": "#f5f5f4",
    "--color-text-primary": "#1c1917",
    "--color-text-secondary": "#57534e",
    "--color-border-primary": "#d6d3d1",
    "--color-text-danger": "#b91c1c",
    "--font-sans": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    "--font-mono": "ui-monospace, 'SFMono-Regular', Menlo, monospace",
    "--border-radius-md": "8px",
  },
  dark: {
    "--color-background-primary": "#1c1917",
    "--color-background-secondary": "#292524",
    "--color-text-primary": "#fafaf9",
    "--color-text-secondary": "#a8a29e",
    "--color-border-primary": "#44403c",
    "--color-text-danger": "#f87171",
    "--font-sans": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    "--font-mono": "ui-monospace, 'SFMono-Regular', Menlo, monospace",
    "--border-radius-md": "8px",
  },
};

const state = {
  ready: false, // true once tool input (and the result, with callFirst) was sent to the app
  initialized: false, // true once the app sent ui/notifications/initialized
  error: null,
  params: null,
  openedLinks: [],
  sizes: [],
  logs: [],
  toolsList: null,
  tool: null,
  resource: null,
  csp: null,
  appInfo: null,
  appCapabilities: null,
  toolResult: null, // result of the host's own call (callFirst)
  appCalls: [], // [{params, result} | {params, error}] for each tools/call from the app
  setTheme: null,
  teardown: null,
};
window.__host = state;

function errorText(e) {
  if (e instanceof Error) {
    const extra = e.code !== undefined ? ` (code ${e.code})` : "";
    return `${e.name}: ${e.message}${extra}`;
  }
  return typeof e === "string" ? e : JSON.stringify(e);
}

function render() {
  const pre = document.getElementById("host-state");
  if (pre) {
    try {
      pre.textContent = JSON.stringify(state, (k, v) => (typeof v === "function" ? undefined : v));
    } catch {
      /* ignore */
    }
  }
  const err = document.getElementById("host-error");
  if (err) err.textContent = state.error ?? "";
  document.documentElement.dataset.hostReady = String(state.ready);
  document.documentElement.dataset.hostInitialized = String(state.initialized);
  document.documentElement.dataset.hostError = state.error ? "true" : "false";
}

function fail(e) {
  console.error("[host]", e);
  if (!state.error) state.error = errorText(e);
  render();
}
window.addEventListener("error", (ev) => fail(ev.error ?? ev.message));
window.addEventListener("unhandledrejection", (ev) => fail(ev.reason));

function parseParams() {
  const raw = location.hash.replace(/^#/, "");
  if (!raw) throw new Error("missing parameters in location.hash");
  const p = JSON.parse(decodeURIComponent(raw));
  if (!p.gateway || !p.tool) throw new Error("parameters need at least gateway and tool");
  return {
    gateway: String(p.gateway),
    key: p.key ? String(p.key) : "",
    tool: String(p.tool),
    arguments: p.arguments ?? {},
    callFirst: Boolean(p.callFirst),
    theme: p.theme === "dark" ? "dark" : "light",
    locale: p.locale ? String(p.locale) : "en-US",
    width: Number(p.width) > 0 ? Number(p.width) : 640,
    refuseLinks: Boolean(p.refuseLinks),
    hold: Boolean(p.hold),
  };
}

// CSP for the srcdoc document, from the resource's _meta.ui.csp. Same
// directive mapping as ext-apps examples/basic-host/src/csp.ts (including the
// domain sanitizing), but with 'none' instead of 'self' defaults: a srcdoc
// iframe without allow-same-origin has an opaque origin anyway.
function sanitizeDomains(domains) {
  if (!Array.isArray(domains)) return [];
  return domains.filter((d) => typeof d === "string" && !/[;\r\n'" ]/.test(d));
}
function buildCsp(csp) {
  const res = sanitizeDomains(csp?.resourceDomains).join(" ");
  const connect = sanitizeDomains(csp?.connectDomains).join(" ");
  const frame = sanitizeDomains(csp?.frameDomains).join(" ");
  const base = sanitizeDomains(csp?.baseUriDomains).join(" ");
  const src = (fallback, extra) => `${fallback}${extra ? ` ${extra}` : ""}`;
  return [
    "default-src 'none'",
    `script-src ${src("'unsafe-inline'", res)}`,
    `style-src ${src("'unsafe-inline'", res)}`,
    `img-src ${src("data:", res)}`,
    `font-src ${src("data:", res)}`,
    `media-src ${src("data:", res)}`,
    `connect-src ${connect || "'none'"}`,
    `frame-src ${frame || "'none'"}`,
    "object-src 'none'",
    `base-uri ${base || "'none'"}`,
  ].join("; ");
}

function withCspMeta(html, policy) {
  const escaped = policy.replace(/&/g, "&amp;").replace(/"/g, "&quot;");
  const meta = `<meta http-equiv="Content-Security-Policy" content="${escaped}">`;
  const head = /<head(\s[^>]*)?>/i.exec(html);
  if (head) {
    const at = head.index + head[0].length;
    return html.slice(0, at) + meta + html.slice(at);
  }
  const htmlTag = /<html(\s[^>]*)?>/i.exec(html);
  if (htmlTag) {
    const at = htmlTag.index + htmlTag[0].length;
    return `${html.slice(0, at)}<head>${meta}</head>${html.slice(at)}`;
  }
  return `<!doctype html><head>${meta}</head>${html}`;
}

function hostContext(p, theme, tool) {
  return {
    toolInfo: { tool },
    theme,
    locale: p.locale,
    displayMode: "inline",
    availableDisplayModes: ["inline"],
    containerDimensions: { maxHeight: 4000, width: p.width },
    platform: "web",
    styles: { variables: { ...THEME_VARIABLES[theme] } },
  };
}

async function main() {
  const p = parseParams();
  state.params = p;
  render();

  // 1. MCP client, declaring the MCP Apps extension.
  const client = new Client(HOST_INFO, {
    capabilities: {
      extensions: { [EXTENSION_ID]: { mimeTypes: [RESOURCE_MIME_TYPE] } },
    },
  });
  const headers = p.key ? { Authorization: `Bearer ${p.key}` } : {};
  const transport = new StreamableHTTPClientTransport(new URL(p.gateway), {
    requestInit: { headers },
  });
  await client.connect(transport);
  window.__hostClient = client;

  // 2. Tool and its UI resource.
  const toolsList = await client.listTools();
  state.toolsList = toolsList;
  const tool = toolsList.tools.find((t) => t.name === p.tool);
  if (!tool) throw new Error(`tool ${p.tool} not found in tools/list`);
  state.tool = tool;
  const uri = getToolUiResourceUri(tool);
  if (!uri) throw new Error(`tool ${p.tool} has no _meta.ui.resourceUri`);

  const resource = await client.readResource({ uri });
  state.resource = resource;
  render();
  if (!resource.contents || resource.contents.length !== 1) {
    throw new Error(`resources/read ${uri}: expected 1 content, got ${resource.contents?.length}`);
  }
  const content = resource.contents[0];
  if (content.mimeType !== RESOURCE_MIME_TYPE) {
    throw new Error(`resources/read ${uri}: mimeType ${content.mimeType}, want ${RESOURCE_MIME_TYPE}`);
  }
  const html =
    typeof content.text === "string"
      ? content.text
      : new TextDecoder().decode(Uint8Array.from(atob(content.blob), (c) => c.charCodeAt(0)));
  const csp = buildCsp(content._meta?.ui?.csp);
  state.csp = csp;

  // 3. Sandboxed iframe (opaque origin: allow-scripts only). Attach it first,
  // so contentWindow exists for the transport before the app can post.
  const iframe = document.createElement("iframe");
  iframe.id = "app";
  iframe.title = p.tool;
  iframe.setAttribute("sandbox", "allow-scripts");
  iframe.style.width = `${p.width}px`;
  iframe.style.height = "200px";
  iframe.style.border = "0";
  iframe.style.display = "block";
  document.querySelector("main").appendChild(iframe);

  // 4. AppBridge wired to the MCP client (built-in forwarding of tools/call,
  // resources/*, prompts/list to the server).
  let theme = p.theme;
  const serverCaps = client.getServerCapabilities() ?? {};
  const bridge = new AppBridge(
    client,
    HOST_INFO,
    {
      openLinks: {},
      logging: {},
      ...(serverCaps.tools ? { serverTools: {} } : {}),
      ...(serverCaps.resources ? { serverResources: {} } : {}),
    },
    { hostContext: hostContext(p, theme, tool) },
  );
  window.__hostBridge = bridge;

  bridge.onopenlink = async ({ url }) => {
    state.openedLinks.push(url);
    render();
    // refuseLinks: the host declines (the spec's isError result).
    return p.refuseLinks ? { isError: true } : {};
  };
  bridge.onsizechange = ({ width, height }) => {
    state.sizes.push({ width, height });
    if (typeof height === "number") iframe.style.height = `${Math.min(height, 4000)}px`;
    render();
  };
  bridge.onloggingmessage = (params) => {
    state.logs.push(params);
    render();
  };
  bridge.onmessage = async () => ({ isError: true });
  const initialized = new Promise((resolve) => {
    bridge.oninitialized = () => {
      state.initialized = true;
      state.appInfo = bridge.getAppVersion() ?? null;
      state.appCapabilities = bridge.getAppCapabilities() ?? null;
      render();
      resolve();
    };
  });

  await bridge.connect(new PostMessageTransport(iframe.contentWindow, iframe.contentWindow));

  // Record the app's tools/call while keeping the bridge's own forwarding.
  const forward = bridge.oncalltool;
  if (forward) {
    bridge.oncalltool = async (params, extra) => {
      const entry = { params };
      state.appCalls.push(entry);
      render();
      try {
        entry.result = await forward(params, extra);
        return entry.result;
      } catch (e) {
        entry.error = errorText(e);
        throw e;
      } finally {
        render();
      }
    };
  }

  state.setTheme = async (next) => {
    theme = next === "dark" ? "dark" : "light";
    bridge.setHostContext(hostContext(p, theme, tool));
    return true;
  };
  state.teardown = async () => bridge.teardownResource({});
  // For tests that drive the conversation step by step.
  state.sendPartial = async (args) => bridge.sendToolInputPartial({ arguments: args });
  state.sendInput = async (args) => bridge.sendToolInput({ arguments: args });
  state.sendCancelled = async (reason) => bridge.sendToolCancelled({ reason });
  state.setLocale = async (locale) => {
    p.locale = String(locale);
    bridge.setHostContext(hostContext(p, theme, tool));
    return true;
  };

  // 5. Load the app and wait for ui/notifications/initialized.
  iframe.srcdoc = withCspMeta(html, csp);
  await initialized;

  // 6. Tool input, then (as the model would have) the tool call and its
  // result; `hold`: nothing yet (the test sends it, see sendPartial/sendInput).
  if (p.hold) {
    state.ready = true;
    render();
    return;
  }
  await bridge.sendToolInput({ arguments: p.arguments });
  if (p.callFirst) {
    const result = await client.callTool({ name: p.tool, arguments: p.arguments });
    state.toolResult = result;
    await bridge.sendToolResult(result);
  }
  state.ready = true;
  render();
}

main().catch(fail);
