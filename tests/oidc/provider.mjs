// A real OpenID provider for the gateway's OAuth tests: panva/oidc-provider
// (OpenID Certified), on loopback, with
//   - dynamic client registration, authorization code + PKCE, refresh tokens,
//   - resource indicators (RFC 8707): access tokens are RS256 JWTs whose
//     `aud` is the requested resource, carrying the `vieagent:*` scopes,
//   - `email` / `email_verified` in access tokens (as Keycloak does),
//   - a login step that signs in the account named by `login_hint` and
//     grants what was asked (the tests automate the browser's part).
// Test-only controls under /test/ (never part of a real provider):
//   POST /test/accounts {sub, email, email_verified}  add or change an account
//   POST /test/mint {claims, header?, key?}           sign a token (hostile tables)
//   POST /test/jwks {down?, rotate?}                  take the JWKS down / publish a new key
//   POST /test/format {opaque}                        issue opaque access tokens (introspection)
//   GET  /test/stats                                  how often the JWKS and introspection were asked
//   POST /test/login {sub}                            who signs in when the client sends no login_hint
//                                                     (a person typing at the login page: the web app's sign-in)
// Prints one JSON line {"issuer": …} on stdout when it is ready.

import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';
import { generateKeyPair, exportJWK, exportSPKI, SignJWT } from 'jose';

const accounts = new Map();
const state = { jwksDown: false, jwksRequests: 0, introspections: 0, opaque: false, loginAs: null };

async function newKey(kid, alg = 'RS256') {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' };
  const pub = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicKey, jwk, pub };
}

const signing = await newKey('k1');
// Published only after /test/jwks {rotate: true}.
const rotated = await newKey('k2', 'ES256');
// Never published: tokens signed with it name an unknown kid.
const unpublished = await newKey('k-unpublished');
const published = [signing];

const server = http.createServer();
await new Promise((resolve) => server.listen(Number(process.env.PORT || 0), '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  jwks: { keys: [signing.jwk] },
  // The gateway's own confidential client, for token introspection (RFC 7662).
  clients: [{
    client_id: 'vieagent-gateway',
    client_secret: 'gateway-introspection-secret',
    grant_types: [],
    response_types: [],
    redirect_uris: [],
  }],
  findAccount: async (_ctx, sub) => ({
    accountId: sub,
    async claims() {
      const a = accounts.get(sub) || {};
      return { sub, email: a.email, email_verified: a.email_verified, name: a.name };
    },
  }),
  claims: { email: ['email', 'email_verified'], profile: ['name'] },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'vieagent:tools', 'vieagent:admin'],
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (_ctx, _client, oneOf) => (oneOf ? oneOf[0] : undefined),
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, resourceIndicator) => ({
        scope: 'vieagent:tools vieagent:admin',
        audience: resourceIndicator,
        accessTokenTTL: 3600,
        accessTokenFormat: state.opaque ? 'opaque' : 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  extraTokenClaims: async (_ctx, token) => {
    const a = token.accountId && accounts.get(token.accountId);
    return a ? { email: a.email, email_verified: a.email_verified } : undefined;
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  clientBasedCORS: () => true,
});
provider.proxy = false;

// The login and consent pages, answered at once: the account named by
// login_hint signs in and grants every scope and resource it was asked for.
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (prompt.name === 'login') {
    const sub = params.login_hint || state.loginAs;
    if (!sub || !accounts.has(sub)) {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(`unknown account ${sub}`);
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: sub } }, { mergeWithLastSubmission: false });
    return;
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const missing = prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  if (missing.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

async function body(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
}

const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

async function mint({ claims = {}, header = {}, key = 'signing' }) {
  const now = Math.floor(Date.now() / 1000);
  const payload = { iss: issuer, iat: now, exp: now + 600, ...claims };
  for (const [k, v] of Object.entries(payload)) if (v === null) delete payload[k];
  if (key === 'none') {
    return `${b64({ alg: 'none', typ: 'JWT', ...header })}.${b64(payload)}.`;
  }
  if (key === 'hs256-public') {
    // The classic confusion attack: an HMAC "signature" keyed with the
    // published RSA public key.
    const secret = await exportSPKI(signing.publicKey);
    const head = `${b64({ alg: 'HS256', typ: 'JWT', kid: signing.kid, ...header })}.${b64(payload)}`;
    const mac = crypto.createHmac('sha256', secret).update(head).digest('base64url');
    return `${head}.${mac}`;
  }
  const k = { signing, rotated, unpublished }[key];
  return new SignJWT(payload)
    .setProtectedHeader({ alg: k.alg, kid: k.kid, typ: 'at+jwt', ...header })
    .sign(k.privateKey);
}

const json = (res, status, value) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
};

const callback = provider.callback();
server.on('request', async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    if (url.pathname === '/jwks') {
      state.jwksRequests += 1;
      if (state.jwksDown) return json(res, 503, { error: 'temporarily_unavailable' });
      return json(res, 200, { keys: published.map((k) => k.pub) });
    }
    if (url.pathname === '/token/introspection') state.introspections += 1;
    if (url.pathname.startsWith('/interaction/')) return await interaction(req, res);
    if (url.pathname === '/test/accounts' && req.method === 'POST') {
      const a = await body(req);
      accounts.set(a.sub, a);
      return json(res, 200, { ok: true });
    }
    if (url.pathname === '/test/mint' && req.method === 'POST') {
      return json(res, 200, { token: await mint(await body(req)) });
    }
    if (url.pathname === '/test/jwks' && req.method === 'POST') {
      const b = await body(req);
      if (typeof b.down === 'boolean') state.jwksDown = b.down;
      if (b.rotate && !published.includes(rotated)) published.push(rotated);
      return json(res, 200, { ok: true });
    }
    if (url.pathname === '/test/format' && req.method === 'POST') {
      state.opaque = Boolean((await body(req)).opaque);
      return json(res, 200, { ok: true });
    }
    if (url.pathname === '/test/login' && req.method === 'POST') {
      state.loginAs = (await body(req)).sub || null;
      return json(res, 200, { ok: true });
    }
    if (url.pathname === '/test/stats') {
      return json(res, 200, { jwks_requests: state.jwksRequests, introspections: state.introspections });
    }
    return callback(req, res);
  } catch (e) {
    console.error(e);
    if (!res.headersSent) json(res, 500, { error: String(e && e.message) });
  }
});

// The tests read the first line only; later output must not kill us.
process.stdout.on('error', () => {});
process.stdout.write(`${JSON.stringify({ issuer })}\n`);
process.on('SIGTERM', () => process.exit(0));
