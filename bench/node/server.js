// The Node recipe: express + express-jwt + jwks-rsa, configured as its
// documentation recommends (cache: true, rateLimit: true, RS256 only), with
// a public "/" and a protected "/protected" that returns the claims.
//
//   JWKS_URL=... ISSUER=... AUDIENCE=api PORT=4403 node server.js
'use strict';
const express = require('express');
const { expressjwt } = require('express-jwt');
const jwksRsa = require('jwks-rsa');

const app = express();
app.use(
  expressjwt({
    secret: jwksRsa.expressJwtSecret({
      jwksUri: process.env.JWKS_URL,
      cache: true,
      rateLimit: true,
      jwksRequestsPerMinute: 10,
    }),
    algorithms: ['RS256'],
    issuer: process.env.ISSUER,
    audience: process.env.AUDIENCE || 'api',
  }).unless({ path: ['/'] })
);
app.get('/', (req, res) => res.json({ message: 'This is a public route' }));
app.get('/protected', (req, res) =>
  res.json({ message: 'You have accessed a protected route!', claims: req.auth })
);
app.use((err, req, res, next) => {
  if (err.name === 'UnauthorizedError') {
    res.set('WWW-Authenticate', 'Bearer realm="api", error="invalid_token"');
    return res.status(401).json({ error: 'invalid_token' });
  }
  next(err);
});
app.listen(Number(process.env.PORT || 4403), '127.0.0.1');
