'use strict';

// The classic Express recipe, unchanged except for where the keys come from:
// express-jwt checks the Bearer token, jwks-rsa fetches the verification keys
// from the JWKS that `keyward serve` (or `keyward jwks`) publishes.
//
// Environment:
//   JWKS_URI    the issuer's key set, e.g. http://127.0.0.1:4000/jwks.json (required)
//   ISSUER      the accepted "iss" (required)
//   AUDIENCE    the accepted "aud" (required)
//   ALGORITHMS  comma-separated allowlist (default RS256,ES256)
//   PORT        port on 127.0.0.1 (default 3000; 0 picks a free one)
//
// It prints "listening on http://127.0.0.1:PORT" once it accepts requests.

const express = require('express');
const { expressjwt } = require('express-jwt');
const jwksRsa = require('jwks-rsa');

function required(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`app.js: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

const jwksUri = required('JWKS_URI');
const issuer = required('ISSUER');
const audience = required('AUDIENCE');
const algorithms = (process.env.ALGORITHMS || 'RS256,ES256').split(',').map((s) => s.trim()).filter(Boolean);
const port = Number(process.env.PORT || 3000);

const app = express();

app.use(
  expressjwt({
    secret: jwksRsa.expressJwtSecret({
      cache: true,
      rateLimit: true,
      jwksRequestsPerMinute: 5,
      jwksUri,
    }),
    algorithms,
    issuer,
    audience,
  }).unless({ path: ['/'] }),
);

app.get('/', (req, res) => {
  res.json({ message: 'This is a public route' });
});

app.get('/protected', (req, res) => {
  res.json({ message: 'You have accessed a protected route!', claims: req.auth });
});

// express-jwt reports a missing or invalid token as an UnauthorizedError.
app.use((err, req, res, next) => {
  if (err.name === 'UnauthorizedError') {
    res.status(401).json({ error: 'invalid_token', error_description: err.message });
    return;
  }
  next(err);
});

const server = app.listen(port, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});

function stop() {
  server.close(() => process.exit(0));
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
