'use strict';

// A DPoP client made of panva's oauth4webapi (and, for hand-made proofs, the
// dpop package) against keyward serve and keyward gate --dpop required:
//
//   ISSUER=http://127.0.0.1:4000 GATE=http://127.0.0.1:3000 \
//   CLIENT_ID=... CLIENT_SECRET=... PUBLIC_CLIENT_ID=... REDIRECT_URI=... \
//   USERNAME=... PASSWORD=... node dpop-client.js
//
// It prints one JSON line per step, {"step":"...","ok":true,...}, and
// exits 1 after the first step that fails. Server nonces (use_dpop_nonce)
// are answered the way oauth4webapi documents: retry once with the nonce
// the DPoP handle remembered from the answer.

function env(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`dpop-client.js: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

function step(name, ok, details = {}) {
  console.log(JSON.stringify({ step: name, ok: Boolean(ok), ...details }));
  if (!ok) {
    process.exit(1);
  }
}

// signIn drives the issuer's login page like a browser: GET the
// authorization URL, post the form back with the user's credentials and
// the CSRF cookie, and return the redirect to the client.
async function signIn(authz, issuer, username, password) {
  const page = await fetch(authz, { redirect: 'manual' });
  const html = await page.text();
  if (page.status !== 200) {
    throw new Error(`GET /authorize: ${page.status} ${html}`);
  }
  const cookies = page.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const form = new URLSearchParams();
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    form.set(m[1], m[2].replaceAll('&amp;', '&').replaceAll('&#43;', '+').replaceAll('&#34;', '"').replaceAll('&#39;', "'"));
  }
  form.set('username', username);
  form.set('password', password);
  const res = await fetch(new URL('/authorize', issuer), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: cookies },
    body: form,
  });
  const location = res.headers.get('location');
  if (res.status !== 303 || !location) {
    throw new Error(`POST /authorize: ${res.status} ${await res.text()}`);
  }
  return new URL(location);
}

async function main() {
  const oauth = await import('oauth4webapi');
  const dpop = await import('dpop');
  const insecure = { [oauth.allowInsecureRequests]: true };
  // retry answers a use_dpop_nonce once: the DPoP handle has kept the
  // nonce of the DPoP-Nonce header.
  const retry = async (fn) => {
    try {
      return await fn();
    } catch (err) {
      if (oauth.isDPoPNonceError(err)) {
        return await fn();
      }
      throw err;
    }
  };

  const issuer = new URL(env('ISSUER'));
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
  step('discovery', (as.dpop_signing_alg_values_supported || []).includes('ES256'),
    { dpop_signing_alg_values_supported: as.dpop_signing_alg_values_supported });

  // client_credentials, a client registered with --require-dpop.
  const svc = { client_id: env('CLIENT_ID') };
  const svcKey = await oauth.generateKeyPair('ES256');
  const svcDPoP = oauth.DPoP(svc, svcKey);
  const cc = await retry(async () => oauth.processClientCredentialsResponse(as, svc,
    await oauth.clientCredentialsGrantRequest(as, svc, oauth.ClientSecretPost(env('CLIENT_SECRET')),
      new URLSearchParams(), { DPoP: svcDPoP, ...insecure })));
  step('client_credentials', cc.token_type === 'dpop', { token_type: cc.token_type });

  // The gate, with oauth4webapi's proofs.
  const gate = new URL('/protected', env('GATE'));
  const viaGate = async (token, handle) => retry(async () => {
    const res = await oauth.protectedResourceRequest(token, 'GET', gate, new Headers(), null, { DPoP: handle, ...insecure });
    return { status: res.status, body: await res.text() };
  });
  let res = await viaGate(cc.access_token, svcDPoP);
  step('gate_oauth4webapi_proof', res.status === 200, { status: res.status });

  // A bound token downgraded to Bearer.
  let plain = await fetch(gate, { headers: { Authorization: `Bearer ${cc.access_token}` } });
  step('gate_bearer_refused', plain.status === 401, { status: plain.status });

  // Proofs made by the dpop package with the same key, then replayed, then
  // made with another key.
  const probe = await fetch(gate, { headers: { Authorization: `DPoP ${cc.access_token}`,
    DPoP: await dpop.generateProof(svcKey, gate.href, 'GET', undefined, cc.access_token) } });
  const nonce = probe.headers.get('dpop-nonce') || undefined;
  const proof = await dpop.generateProof(svcKey, gate.href, 'GET', nonce, cc.access_token);
  plain = await fetch(gate, { headers: { Authorization: `DPoP ${cc.access_token}`, DPoP: proof } });
  step('gate_dpop_package_proof', plain.status === 200, { status: plain.status, nonce: Boolean(nonce) });
  plain = await fetch(gate, { headers: { Authorization: `DPoP ${cc.access_token}`, DPoP: proof } });
  step('gate_replay_refused', plain.status === 401, { status: plain.status });
  const other = await dpop.generateKeyPair('ES256');
  plain = await fetch(gate, { headers: { Authorization: `DPoP ${cc.access_token}`,
    DPoP: await dpop.generateProof(other, gate.href, 'GET', nonce, cc.access_token) } });
  step('gate_other_key_refused', plain.status === 401, { status: plain.status });

  // Authorization code with PKCE and dpop_jkt, for a public client.
  const spa = { client_id: env('PUBLIC_CLIENT_ID') };
  const spaKey = await oauth.generateKeyPair('ES256');
  const spaDPoP = oauth.DPoP(spa, spaKey);
  const redirectUri = env('REDIRECT_URI');
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const authz = new URL(as.authorization_endpoint);
  authz.searchParams.set('client_id', spa.client_id);
  authz.searchParams.set('redirect_uri', redirectUri);
  authz.searchParams.set('response_type', 'code');
  authz.searchParams.set('scope', 'openid');
  authz.searchParams.set('state', state);
  authz.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(verifier));
  authz.searchParams.set('code_challenge_method', 'S256');
  authz.searchParams.set('dpop_jkt', await spaDPoP.calculateThumbprint());
  const callback = await signIn(authz, issuer, env('USERNAME'), env('PASSWORD'));
  const params = oauth.validateAuthResponse(as, spa, callback, state);
  const tok = await retry(async () => oauth.processAuthorizationCodeResponse(as, spa,
    await oauth.authorizationCodeGrantRequest(as, spa, oauth.None(), params, redirectUri, verifier, { DPoP: spaDPoP, ...insecure })));
  step('authorization_code', tok.token_type === 'dpop' && Boolean(tok.refresh_token), { token_type: tok.token_type });

  const sub = oauth.getValidatedIdTokenClaims(tok).sub;
  const info = await retry(async () => oauth.processUserInfoResponse(as, spa, sub,
    await oauth.userInfoRequest(as, spa, tok.access_token, { DPoP: spaDPoP, ...insecure })));
  step('userinfo', info.sub === sub, { sub: info.sub });
  res = await viaGate(tok.access_token, spaDPoP);
  step('gate_code_flow_token', res.status === 200, { status: res.status });

  // The public client's refresh token is bound to its key.
  const stranger = oauth.DPoP(spa, await oauth.generateKeyPair('ES256'));
  try {
    await retry(async () => oauth.processRefreshTokenResponse(as, spa,
      await oauth.refreshTokenGrantRequest(as, spa, oauth.None(), tok.refresh_token, { DPoP: stranger, ...insecure })));
    step('refresh_other_key_refused', false);
  } catch (err) {
    step('refresh_other_key_refused', err.error === 'invalid_grant', { error: err.error || String(err) });
  }
  const next = await retry(async () => oauth.processRefreshTokenResponse(as, spa,
    await oauth.refreshTokenGrantRequest(as, spa, oauth.None(), tok.refresh_token, { DPoP: spaDPoP, ...insecure })));
  step('refresh', next.token_type === 'dpop' && next.refresh_token !== tok.refresh_token, { token_type: next.token_type });
}

main().catch((err) => {
  console.log(JSON.stringify({ step: 'error', ok: false, error: String(err && err.stack || err), cause: err && err.cause }));
  process.exit(1);
});
