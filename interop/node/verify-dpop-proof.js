'use strict';

// Verifies DPoP proofs (RFC 9449 §4.3) with panva's jose: the signature by
// the jwk of the proof's own header (EmbeddedJWK), typ dpop+jwt, an
// asymmetric alg, and the claims htm, htu, iat, jti and ath.
//
//   node verify-dpop-proof.js < cases
//
// Each line of standard input is a JSON case
//   {"proof":"...","htm":"GET","htu":"https://...","ath":"..."}
// ("ath" empty for a proof without an access token). For each case it
// prints one JSON line:
//   {"ok":true,"alg":"ES256","jkt":"<RFC 7638 thumbprint of the jwk>"}
//   {"ok":false,"code":"ERR_...","error":"..."}
// and exits 1 when any proof failed.

const readline = require('node:readline');

async function main() {
  const jose = await import('jose');
  const rl = readline.createInterface({ input: process.stdin });
  let failed = false;
  for await (const line of rl) {
    if (!line.trim()) {
      continue;
    }
    const c = JSON.parse(line);
    try {
      const { payload, protectedHeader } = await jose.jwtVerify(c.proof, jose.EmbeddedJWK, {
        typ: 'dpop+jwt',
        algorithms: ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'],
        maxTokenAge: '60s',
        clockTolerance: 5,
      });
      const check = (ok, what) => {
        if (!ok) {
          throw Object.assign(new Error(what), { code: 'ERR_DPOP_CLAIM' });
        }
      };
      check(payload.htm === c.htm, `htm ${payload.htm}, want ${c.htm}`);
      check(payload.htu === c.htu, `htu ${payload.htu}, want ${c.htu}`);
      check(typeof payload.jti === 'string' && payload.jti.length > 0, 'no jti');
      check((payload.ath || '') === (c.ath || ''), `ath ${payload.ath}, want ${c.ath}`);
      const jwk = protectedHeader.jwk;
      check(!('d' in jwk) && !('p' in jwk) && !('k' in jwk), 'private members in jwk');
      const jkt = await jose.calculateJwkThumbprint(jwk, 'sha256');
      console.log(JSON.stringify({ ok: true, alg: protectedHeader.alg, jkt }));
    } catch (err) {
      failed = true;
      console.log(JSON.stringify({ ok: false, code: err.code || '', error: String(err.message || err) }));
    }
  }
  process.exit(failed ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
