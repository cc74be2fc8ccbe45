// n8n's own digest authentication: the HTTP Request node's `auth: {user, pass, sendImmediately: false}` sent
// through n8n's request path (@n8n/backend-network's executeLegacyRequest, which answers the 401 challenge with
// digestAuthAxiosConfig) to a live server.
// stdin: [{uri, user, pass}]; stdout: [{status} | {status, error}]
'use strict';
const path = require('path');

const engine = process.env.N8N_CODE_ENGINE_DIR;
if (!engine) {
  console.error('N8N_CODE_ENGINE_DIR is not set');
  process.exit(2);
}
const { executeLegacyRequest } = require(path.join(engine, 'node_modules', '@n8n', 'backend-network', 'dist',
  'http', 'legacy-request.js'));

const logger = { debug() {}, info() {}, warn() {}, error() {} };

async function one(c) {
  const request = { method: 'GET', uri: c.uri, auth: { user: c.user, pass: c.pass, sendImmediately: false },
    resolveWithFullResponse: true };
  try {
    const response = await executeLegacyRequest(request, undefined, logger);
    return { status: response.statusCode };
  } catch (error) {
    const status = error && (error.statusCode || (error.response && error.response.status));
    return { status: status || null, error: `${error && error.name}: ${error && error.message}` };
  }
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', async () => {
  const out = [];
  for (const c of JSON.parse(input)) out.push(await one(c));
  process.stdout.write(JSON.stringify(out));
});
