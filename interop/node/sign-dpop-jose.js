'use strict';

// Makes a DPoP proof (RFC 9449) with panva's jose, as a browser or Node
// client does: a new non-extractable key pair for ALG, the public key in
// the header's jwk, typ dpop+jwt, iat now and a random jti.
//
//   node sign-dpop-jose.js ALG HTM HTU [ATH]
//
// It prints {"proof":"...","jkt":"<RFC 7638 thumbprint of the jwk>"}.

const { randomUUID } = require('node:crypto');

async function main() {
  const [alg, htm, htu, ath] = process.argv.slice(2);
  if (!alg || !htm || !htu) {
    throw new Error('usage: sign-dpop-jose.js ALG HTM HTU [ATH]');
  }
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

main().catch((err) => {
  console.error(`sign-dpop-jose.js: ${err.message}`);
  process.exit(2);
});
