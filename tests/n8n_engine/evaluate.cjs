// Evaluate n8n credential expressions with n8n-workflow's own engine (the reference for fluxnex.expressions).
// Reads a JSON array of cases [{expression, credentials, self}] on stdin, prints a JSON array of results
// [{ok: true, type, value} | {ok: false, error}] on stdout. The module directory of n8n-workflow is given
// by the N8N_WORKFLOW_DIR environment variable (an `npm install --prefix` outside the repository).
'use strict';
const path = require('path');
const dir = process.env.N8N_WORKFLOW_DIR;
if (!dir) {
  console.error('N8N_WORKFLOW_DIR is not set');
  process.exit(2);
}
const { Expression } = require(path.join(dir, 'node_modules', 'n8n-workflow'));

function encode(value) {
  if (value === undefined) return { ok: true, type: 'undefined' };
  if (typeof value === 'number' && !Number.isFinite(value)) return { ok: true, type: 'number', value: String(value) };
  if (value instanceof Date) return { ok: true, type: 'date', value: value.toISOString() };
  return { ok: true, type: value === null ? 'null' : typeof value, value };
}

function main(input) {
  const cases = JSON.parse(input);
  const expression = new Expression('UTC');
  const results = cases.map((c) => {
    const data = { $credentials: c.credentials ?? {}, $self: c.self ?? {} };
    try {
      return encode(expression.resolveSimpleParameterValue(c.expression, data, false));
    } catch (error) {
      return { ok: false, error: `${error && error.name}: ${error && error.message}` };
    }
  });
  process.stdout.write(JSON.stringify(results));
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => main(input));
