'use strict';

// Verifies JWTs with panva's jose through createRemoteJWKSet, as a service
// on any modern JavaScript runtime would.
//
//   JWKS_URI=... ISSUER=... AUDIENCE=... [ALGORITHMS=RS256,ES256,EdDSA] [TYP=at+jwt] \
//     node verify-jose.js [TOKEN...]
//
// Tokens come from the arguments or, when there are none, one a line on
// standard input. For each token it prints one JSON line:
//   {"ok":true,"alg":"ES256","kid":"...","sub":"..."}
//   {"ok":false,"code":"ERR_JWS_SIGNATURE_VERIFICATION_FAILED","error":"..."}
// and exits 1 when any token failed.

const readline = require('node:readline');

function required(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`verify-jose.js: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

async function main() {
  const { createRemoteJWKSet, jwtVerify } = await import('jose');
  const jwks = createRemoteJWKSet(new URL(required('JWKS_URI')));
  const options = {
    issuer: required('ISSUER'),
    audience: required('AUDIENCE'),
    algorithms: (process.env.ALGORITHMS || 'RS256,ES256,EdDSA').split(',').map((s) => s.trim()).filter(Boolean),
  };
  if (process.env.TYP) {
    options.typ = process.env.TYP;
  }

  let tokens = process.argv.slice(2);
  if (tokens.length === 0) {
    tokens = [];
    const rl = readline.createInterface({ input: process.stdin });
    for await (const line of rl) {
      if (line.trim()) tokens.push(line.trim());
    }
  }

  let failed = false;
  for (const token of tokens) {
    try {
      const { payload, protectedHeader } = await jwtVerify(token, jwks, options);
      console.log(JSON.stringify({ ok: true, alg: protectedHeader.alg, kid: protectedHeader.kid, sub: payload.sub }));
    } catch (err) {
      failed = true;
      console.log(JSON.stringify({ ok: false, code: err.code || err.name, error: err.message }));
    }
  }
  process.exitCode = failed ? 1 : 0;
}

main().catch((err) => {
  console.error(`verify-jose.js: ${err.message}`);
  process.exit(2);
});
