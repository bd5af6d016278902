'use strict';

// Signs a JWT with jsonwebtoken and a PEM private key, as the classic Node
// recipe does, and prints it.
//
//   node sign-jsonwebtoken.js KEY.pem ALG [--iss I] [--aud A] [--sub S]
//        [--expires-in 1h] [--kid KID|thumbprint] [--claim k=v]...
//
// --kid thumbprint writes the key's RFC 7638 SHA-256 thumbprint, the key ID
// `keyward jwks` gives the same key. A negative --expires-in such as -10m
// makes a token that has already expired.

const fs = require('node:fs');
const crypto = require('node:crypto');
const jwt = require('jsonwebtoken');

function usage(msg) {
  console.error(`sign-jsonwebtoken.js: ${msg}`);
  console.error('usage: node sign-jsonwebtoken.js KEY.pem ALG [--iss I] [--aud A] [--sub S] [--expires-in 1h] [--kid KID|thumbprint] [--claim k=v]...');
  process.exit(2);
}

// thumbprint returns the RFC 7638 SHA-256 thumbprint of the key's public half.
function thumbprint(privateKey) {
  const jwk = crypto.createPublicKey(privateKey).export({ format: 'jwk' });
  let members;
  switch (jwk.kty) {
    case 'RSA':
      members = { e: jwk.e, kty: jwk.kty, n: jwk.n };
      break;
    case 'EC':
      members = { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
      break;
    case 'OKP':
      members = { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
      break;
    default:
      usage(`no thumbprint for key type ${jwk.kty}`);
  }
  return crypto.createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

// seconds parses a duration such as 90s, 10m, 2h or 1d.
function seconds(d) {
  const m = /^(\d+)([smhd])$/.exec(d);
  if (!m) usage(`bad duration ${d}`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2]];
}

const args = process.argv.slice(2);
if (args.length < 2) usage('KEY.pem and ALG are required');
const [keyPath, algorithm, ...rest] = args;
const privateKey = fs.readFileSync(keyPath, 'utf8');

const payload = {};
const options = { algorithm, expiresIn: '1h' };
for (let i = 0; i < rest.length; i += 2) {
  const flag = rest[i];
  const value = rest[i + 1];
  if (value === undefined) usage(`${flag} needs a value`);
  switch (flag) {
    case '--iss':
      options.issuer = value;
      break;
    case '--aud':
      options.audience = value;
      break;
    case '--sub':
      options.subject = value;
      break;
    case '--expires-in':
      if (value.startsWith('-')) {
        // jsonwebtoken refuses a negative expiresIn: write exp directly.
        delete options.expiresIn;
        payload.exp = Math.floor(Date.now() / 1000) - seconds(value.slice(1));
      } else {
        options.expiresIn = value;
      }
      break;
    case '--kid':
      options.keyid = value === 'thumbprint' ? thumbprint(privateKey) : value;
      break;
    case '--claim': {
      const eq = value.indexOf('=');
      if (eq <= 0) usage(`--claim ${value}: want k=v`);
      payload[value.slice(0, eq)] = value.slice(eq + 1);
      break;
    }
    default:
      usage(`unknown flag ${flag}`);
  }
}

process.stdout.write(jwt.sign(payload, privateKey, options) + '\n');
