// Sign requests as n8n-core 2.41.0's requestOAuth1 does (restated from
// dist/execution-engine/node-execution-context/utils/request-helpers/oauth.js: oauth-1.0a with n8n's
// hash_function, data = {...qs, ...form}), with the nonce and timestamp given, as the reference for
// fluxnex.lifecycle.oauth1. stdin: [{consumerKey, consumerSecret, signatureMethod, token, method, url, qs, form,
// nonce, timestamp}]; stdout: [Authorization header]
'use strict';
const crypto = require('crypto');
const OAuth = require('oauth-1.0a');

let input = '';
process.stdin.on('data', (chunk) => (input += chunk));
process.stdin.on('end', () => {
  const out = JSON.parse(input).map((c) => {
    const oauth = new OAuth({
      consumer: { key: c.consumerKey, secret: c.consumerSecret },
      signature_method: c.signatureMethod,
      hash_function(base, key) {
        let algorithm;
        switch (c.signatureMethod) {
          case 'HMAC-SHA256': algorithm = 'sha256'; break;
          case 'HMAC-SHA512': algorithm = 'sha512'; break;
          default: algorithm = 'sha1'; break;
        }
        return crypto.createHmac(algorithm, key).update(base).digest('base64');
      },
    });
    oauth.getNonce = () => c.nonce;
    oauth.getTimeStamp = () => c.timestamp;
    const request = { method: c.method, url: c.url, data: { ...c.qs, ...c.form } };
    const token = { key: c.token.oauth_token, secret: c.token.oauth_token_secret };
    return oauth.toHeader(oauth.authorize(request, token)).Authorization;
  });
  process.stdout.write(JSON.stringify(out));
});
