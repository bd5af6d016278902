'use strict';

// DPoP proofs (RFC 9449) with panva's jose, both ways.
//
//   node dpop-jose.js verify PROOF...
//     verifies each keyward proof with jose.jwtVerify and the key in its own
//     header (EmbeddedJWK), typ dpop+jwt; prints one JSON line each:
//       {"ok":true,"alg":"ES256","htm":"GET","htu":"...","jti":"...","ath":"...","jkt":"..."}
//       {"ok":false,"code":"...","error":"..."}
//   node dpop-jose.js sign ALG HTM HTU [ATH]
//     makes a key pair for ALG and a proof with it, as a browser or Node
//     client would; prints {"proof":"...","jkt":"..."}.

const { randomUUID } = require('node:crypto');

async function verify(proofs) {
  const { jwtVerify, EmbeddedJWK, calculateJwkThumbprint } = await import('jose');
  let failed = false;
  for (const proof of proofs) {
    try {
      const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, {
        typ: 'dpop+jwt',
        algorithms: ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'],
        requiredClaims: ['jti', 'htm', 'htu', 'iat'],
        maxTokenAge: '60s',
      });
      const jkt = await calculateJwkThumbprint(protectedHeader.jwk, 'sha256');
      console.log(JSON.stringify({ ok: true, alg: protectedHeader.alg, htm: payload.htm, htu: payload.htu, jti: payload.jti, ath: payload.ath || '', jkt }));
    } catch (err) {
      failed = true;
      console.log(JSON.stringify({ ok: false, code: err.code || 'ERR', error: String(err.message) }));
    }
  }
  process.exit(failed ? 1 : 0);
}

async function sign(alg, htm, htu, ath) {
  const { generateKeyPair, exportJWK, SignJWT, calculateJwkThumbprint } = await import('jose');
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: false });
  const jwk = await exportJWK(publicKey);
  const claims = { htm, htu, jti: randomUUID() };
  if (ath) {
    claims.ath = ath;
  }
  const proof = await new SignJWT(claims)
    .setProtectedHeader({ alg, typ: 'dpop+jwt', jwk })
    .setIssuedAt()
    .sign(privateKey);
  console.log(JSON.stringify({ proof, jkt: await calculateJwkThumbprint(jwk, 'sha256') }));
}

const [mode, ...args] = process.argv.slice(2);
(mode === 'verify' ? verify(args) : mode === 'sign' ? sign(...args) : Promise.reject(new Error('usage: dpop-jose.js verify PROOF... | sign ALG HTM HTU [ATH]')))
  .catch((err) => {
    console.error(`dpop-jose.js: ${err.message}`);
    process.exit(2);
  });
