// n8n's HTTP Request node's TLS options for httpSslAuth credentials: setAgentOptions (nodes/HttpRequest/
// GenericFunctions.js, which formats each PEM with @n8n/utils' formatPemBlock) run on each credential set.
// stdin: [credentials...]; stdout: [agentOptions | null...]
'use strict';
const path = require('path');

const engine = process.env.N8N_CODE_ENGINE_DIR;
if (!engine) {
  console.error('N8N_CODE_ENGINE_DIR is not set');
  process.exit(2);
}
const { setAgentOptions } = require(path.join(engine, 'n8n-nodes-base', 'dist', 'nodes', 'HttpRequest',
  'GenericFunctions.js'));

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const out = JSON.parse(input).map((credentials) => {
    const requestOptions = {};
    setAgentOptions(requestOptions, credentials);
    return requestOptions.agentOptions || null;
  });
  process.stdout.write(JSON.stringify(out));
});
