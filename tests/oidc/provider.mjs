// A real OpenID Connect provider for the tests: the certified `oidc-provider` package, started as a process.
//
//   node tests/oidc/provider.mjs --port 9100 \
//       --redirect-uri http://127.0.0.1:8000/auth/callback [--redirect-uri ...] \
//       --post-logout-redirect-uri http://127.0.0.1:8000/ [--post-logout-redirect-uri ...] \
//       --accounts accounts.json [--access-token-ttl 3600]
//
// Every flag may also come from the environment: OIDC_PORT, OIDC_REDIRECT_URIS and OIDC_POST_LOGOUT_REDIRECT_URIS
// (space-separated), OIDC_ACCOUNTS, OIDC_ACCESS_TOKEN_TTL. Port 0 picks a free port. The issuer is
// http://127.0.0.1:<port>; the process prints `READY <issuer>` on stdout once it listens and exits 0 on SIGTERM/SIGINT.
//
// The accounts file is a JSON list of
//   {"sub", "preferred_username", "name", "email", "groups": [...], "password"?, "email_verified"?}
// (password defaults to "secret"). The login form accepts the preferred_username, the sub or the email.
//
// One confidential client is registered:
//   client_id hopnhat-web, client_secret hopnhat-test-secret, response_types [code],
//   grant_types [authorization_code, refresh_token], PKCE S256 required.
//   Registered token_endpoint_auth_method is client_secret_basic; oidc-provider also accepts client_secret_post for a
//   client registered with either secret method, so both work.
//
// Scopes: openid profile email groups (and offline_access). Claims: profile -> name, preferred_username;
// email -> email, email_verified; groups -> groups. conformIdTokenClaims is false: the id_token carries every claim
// of the granted scopes, the relying party needs no userinfo call.
//
// Access tokens: a resource indicator (RFC 8707) must be an absolute URI, so the API is the resource `urn:hopnhat:api`
// and it is the default resource: a client that sends no `resource` still gets an access token for it. That token is
// a JWT (header typ "at+jwt", RS256, kid of a key in jwks_uri) with
//   iss = the issuer, aud = "hopnhat-api", sub, client_id, scope, iat, exp, jti, plus preferred_username and groups.
// A relying party / resource server MUST check: the signature against a key from the issuer's jwks_uri (alg RS256,
// by kid), typ "at+jwt", iss equals the issuer exactly, aud is (or contains) "hopnhat-api", exp is in the future
// (iat/nbf sane, small leeway); then it may trust sub, groups and preferred_username.
// The id_token (aud = hopnhat-web) must be checked the usual OIDC way: signature, iss, aud, exp, nonce if one was sent.
//
// Interaction: one form at /interaction/<uid>, `form#login-form` with `input[name=login]`, `input[name=password]`,
// `button#login-submit[type=submit]`. A wrong login or password answers 401 with the form again and
// `p#login-error`; no code is issued. Consent is never shown for this first-party client: loadExistingGrant grants
// the requested scopes and resource automatically.
//
// RP-initiated logout (end_session_endpoint): the confirmation page submits itself at once (inline script) with
// logout=yes; without JavaScript, `button#logout-confirm` does it. Then the provider redirects to the
// post_logout_redirect_uri (when registered and sent with id_token_hint or client_id) or shows "Sign-out Success".
//
// Keys (one RSA-2048 key) and cookie keys are made fresh at every start; state lives in memory only.

import * as crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import { parseArgs } from 'node:util';

import Provider, { errors } from 'oidc-provider';

const CLIENT_ID = 'hopnhat-web';
const CLIENT_SECRET = 'hopnhat-test-secret';
const API_RESOURCE = 'urn:hopnhat:api';
const API_AUDIENCE = 'hopnhat-api';
const API_SCOPE = 'openid profile email groups api';
const DEFAULT_PASSWORD = 'secret';

function splitEnv(name) {
  return (process.env[name] || '').split(/\s+/).filter(Boolean);
}

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.OIDC_PORT || '0' },
    'redirect-uri': { type: 'string', multiple: true, default: splitEnv('OIDC_REDIRECT_URIS') },
    'post-logout-redirect-uri': { type: 'string', multiple: true, default: splitEnv('OIDC_POST_LOGOUT_REDIRECT_URIS') },
    accounts: { type: 'string', default: process.env.OIDC_ACCOUNTS },
    'access-token-ttl': { type: 'string', default: process.env.OIDC_ACCESS_TOKEN_TTL || '3600' },
  },
  strict: true,
});

function fail(message) {
  console.error(`provider.mjs: ${message}`);
  process.exit(2);
}

const port = Number.parseInt(args.port, 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`bad --port ${args.port}`);
const redirectUris = args['redirect-uri'];
if (!redirectUris.length) fail('at least one --redirect-uri is needed');
const postLogoutRedirectUris = args['post-logout-redirect-uri'];
const accessTokenTTL = Number.parseInt(args['access-token-ttl'], 10);
if (!Number.isInteger(accessTokenTTL) || accessTokenTTL <= 0) fail(`bad --access-token-ttl ${args['access-token-ttl']}`);

let accountList = [];
if (args.accounts) {
  try {
    accountList = JSON.parse(readFileSync(args.accounts, 'utf8'));
  } catch (err) {
    fail(`cannot read --accounts ${args.accounts}: ${err.message}`);
  }
  if (!Array.isArray(accountList)) fail('--accounts must hold a JSON list');
}
const accountsBySub = new Map();
for (const account of accountList) {
  if (!account || typeof account.sub !== 'string' || !account.sub) fail('every account needs a string "sub"');
  accountsBySub.set(account.sub, account);
}

function accountForLogin(login) {
  for (const account of accountsBySub.values()) {
    if ([account.sub, account.preferred_username, account.email].includes(login)) return account;
  }
  return undefined;
}

function passwordMatches(account, password) {
  const expected = Buffer.from(String(account.password ?? DEFAULT_PASSWORD));
  const given = Buffer.from(String(password ?? ''));
  return expected.length === given.length && crypto.timingSafeEqual(expected, given);
}

function accountClaims(account) {
  const claims = { sub: account.sub };
  for (const name of ['preferred_username', 'name', 'email']) {
    if (account[name] !== undefined) claims[name] = account[name];
  }
  if (account.email !== undefined) claims.email_verified = account.email_verified ?? true;
  claims.groups = Array.isArray(account.groups) ? account.groups : [];
  return claims;
}

async function findAccount(_ctx, sub) {
  const account = accountsBySub.get(sub);
  if (!account) return undefined;
  return {
    accountId: sub,
    // The provider filters these by the granted scopes and the `claims` map below.
    async claims() {
      return accountClaims(account);
    },
  };
}

const signingKey = {
  ...crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
  kid: crypto.randomBytes(8).toString('hex'),
  use: 'sig',
  alg: 'RS256',
};

function html(title, body) {
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return { esc, page: `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${esc(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
${body}
</body>
</html>` };
}

function makeConfiguration(listenPort) {
  const cookiePrefix = `op${listenPort}`;
  return {
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      client_name: 'hopnhat',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: redirectUris,
      post_logout_redirect_uris: postLogoutRedirectUris,
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    }],
    jwks: { keys: [signingKey] },
    cookies: {
      keys: [crypto.randomBytes(32).toString('hex')],
      // The relying party runs on the same host (127.0.0.1) and cookies ignore ports: keep our names apart.
      names: {
        session: `${cookiePrefix}_session`,
        interaction: `${cookiePrefix}_interaction`,
        resume: `${cookiePrefix}_interaction_resume`,
      },
    },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    conformIdTokenClaims: false,
    findAccount,
    pkce: { methods: ['S256'], required: () => true },
    clientBasedCORS: () => true,
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          const { page } = html('Sign out', `<h1>Signing out…</h1>
  ${form.replace('</form>', '<input type="hidden" name="logout" value="yes"/></form>')}
  <button id="logout-confirm" type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button>
  <script>document.getElementById('op.logoutForm').submit();</script>`);
          ctx.type = 'html';
          ctx.body = page;
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          ctx.body = html('Signed out', '<h1 id="logout-success">Sign-out Success</h1>').page;
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => API_RESOURCE,
        // Without this, an openid request with userinfo enabled would get an opaque userinfo token instead.
        useGrantedResource: async () => true,
        async getResourceServerInfo(_ctx, resourceIndicator) {
          if (resourceIndicator !== API_RESOURCE) throw new errors.InvalidTarget();
          return {
            scope: API_SCOPE,
            audience: API_AUDIENCE,
            accessTokenTTL: accessTokenTTL,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    async extraTokenClaims(_ctx, token) {
      const account = token.accountId && accountsBySub.get(token.accountId);
      if (!account) return undefined;
      const claims = accountClaims(account);
      return { preferred_username: claims.preferred_username, groups: claims.groups };
    },
    // First-party client: no consent screen. Grant what is asked for (OIDC scopes and the resource's scopes).
    async loadExistingGrant(ctx) {
      const { client, session, account } = ctx.oidc;
      const grantId = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
      let grant = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
      if (!grant || grant.accountId !== account.accountId) {
        grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: account.accountId });
      }
      grant.addOIDCScope([...ctx.oidc.requestParamOIDCScopes].join(' '));
      for (const [identifier, resourceServer] of Object.entries(ctx.oidc.resourceServers || {})) {
        grant.addResourceScope(identifier, resourceServer.scope);
      }
      await grant.save();
      return grant;
    },
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    interactions: { url: async (_ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: {
      AccessToken: accessTokenTTL,
      AuthorizationCode: 60,
      ClientCredentials: 600,
      DeviceCode: 600,
      BackchannelAuthenticationRequest: 600,
      Grant: 14 * 24 * 3600,
      IdToken: 3600,
      Interaction: 3600,
      RefreshToken: 14 * 24 * 3600,
      Session: 14 * 24 * 3600,
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      const { esc, page } = html('Error', '');
      ctx.body = page.replace('</body>', `<h1 id="op-error">${esc(out.error)}</h1>
  <p id="op-error-description">${esc(out.error_description || '')}</p>
  </body>`);
    },
  };
}

function loginPage(uid, { login = '', error = '' } = {}) {
  const { esc, page } = html('Sign in', '');
  return page.replace('</body>', `<h1>Sign in</h1>
${error ? `<p id="login-error" role="alert">${esc(error)}</p>` : ''}
<form id="login-form" method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
  <label>Login <input id="login" name="login" type="text" value="${esc(login)}" required autofocus></label>
  <label>Password <input id="password" name="password" type="password" required></label>
  <button id="login-submit" type="submit">Sign in</button>
</form>
</body>`);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res, status, body, type = 'text/html; charset=utf-8') {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

async function interaction(provider, req, res, uid, action) {
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    send(res, 400, `interaction not found or expired: ${err.message}\n`, 'text/plain; charset=utf-8');
    return;
  }
  if (details.uid !== uid) {
    send(res, 400, 'interaction mismatch\n', 'text/plain; charset=utf-8');
    return;
  }
  const { prompt } = details;
  if (prompt.name === 'consent') {
    // Only reached if loadExistingGrant did not cover a request (it should): grant it, there is no consent screen.
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes || {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, {
      mergeWithLastSubmission: true,
    });
    return;
  }
  if (prompt.name !== 'login') {
    send(res, 400, `unsupported prompt ${prompt.name}\n`, 'text/plain; charset=utf-8');
    return;
  }
  if (req.method === 'GET' && !action) {
    send(res, 200, loginPage(uid));
    return;
  }
  if (req.method === 'POST' && action === 'login') {
    const form = await readForm(req);
    const login = form.get('login') || '';
    const account = accountForLogin(login);
    if (!account || !passwordMatches(account, form.get('password'))) {
      send(res, 401, loginPage(uid, { login, error: 'Invalid login or password.' }));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: account.sub } }, {
      mergeWithLastSubmission: false,
    });
    return;
  }
  send(res, 405, 'method not allowed\n', 'text/plain; charset=utf-8');
}

async function main() {
  // Listen first so that port 0 resolves before the issuer is fixed.
  const server = http.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, makeConfiguration(server.address().port));
  provider.on('server_error', (_ctx, err) => console.error('server_error', err));
  const callback = provider.callback();

  server.on('request', (req, res) => {
    const { pathname } = new URL(req.url, issuer);
    const match = /^\/interaction\/([^/]+)(?:\/(login))?$/.exec(pathname);
    if (!match) {
      callback(req, res);
      return;
    }
    interaction(provider, req, res, match[1], match[2]).catch((err) => {
      console.error('interaction error', err);
      if (!res.headersSent) send(res, 500, 'internal error\n', 'text/plain; charset=utf-8');
      else res.end();
    });
  });

  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  process.stdout.write(`READY ${issuer}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
