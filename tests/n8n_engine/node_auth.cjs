// Run the request functions of n8n's own nodes (n8n-nodes-base's dist/nodes/**/GenericFunctions.js and the like)
// for the credential types that declare no authentication: the node authenticates its requests itself. Each
// function is called with a fake `this` (IExecuteFunctions) whose helpers record the request options instead of
// sending them and answer with the case's canned responses; the clock is frozen, random values are zeros.
// stdin: {now: epoch ms, cases: [{module, function, args, credentials, params, responses}]}
//   module: a path under n8n-nodes-base/dist; function: an export of it, or `Class#method` (a method of a new
//   instance of the exported node class: `Chargebee#execute`, for nodes that build requests in execute itself,
//   run on one input item; `Class#a.b.c` walks from it: `HaloPSA#methods.loadOptions.x`);
//   args: its arguments after `this`;
//   params: what getNodeParameter answers (by name); responses: the answers to successive requests ({} after).
// stdout: [{ok: true, requests: [{via, credentialType, options}]} | {ok: false, error, requests}]
'use strict';
const { freezeClock, runMain } = require('./_harness.cjs');
const path = require('path');

const engine = process.env.N8N_CODE_ENGINE_DIR;
if (!engine) {
  console.error('N8N_CODE_ENGINE_DIR is not set');
  process.exit(2);
}
const dist = path.join(engine, 'n8n-nodes-base', 'dist');

function fixRandomness() {
  // n8n-workflow's randomInt (a JSON-RPC id, say) reads crypto.getRandomValues: zeros, so runs compare
  const zeros = (array) => { array.fill(0); return array; };
  Object.defineProperty(globalThis.crypto, 'getRandomValues', { value: zeros });
}

function plain(value) {
  // what the options were when the request was made (Buffers as their text, functions dropped)
  return JSON.parse(JSON.stringify(value === undefined ? null : value, (k, v) => {
    if (v && v.type === 'Buffer' && Array.isArray(v.data)) return Buffer.from(v.data).toString('utf8');
    return typeof v === 'function' ? undefined : v;
  }));
}

function context(c, requests) {
  const responses = [...(c.responses || [])];
  const record = (via, credentialType, options) => {
    requests.push({ via, credentialType: credentialType || null, options: plain(options) });
    return responses.length ? responses.shift() : {};
  };
  const node = { id: 'n', name: 'node', type: 'n8n-nodes-base.node', typeVersion: 1, position: [0, 0],
    parameters: {} };
  const params = c.params || {};
  return {
    async getCredentials() {
      return JSON.parse(JSON.stringify(c.credentials));
    },
    getNodeParameter(name, _index, fallback) {
      return Object.prototype.hasOwnProperty.call(params, name) ? params[name] : fallback;
    },
    getNode: () => node,
    getInputData: () => [{ json: {} }],
    getWorkflow: () => ({ id: 'w', name: 'workflow', active: false }),
    getTimezone: () => 'UTC',
    getInstanceBaseUrl: () => 'http://localhost:5678/',
    getRestApiUrl: () => 'http://localhost:5678/rest',
    getMode: () => 'manual',
    getExecutionId: () => 'e',
    getWorkflowStaticData: () => ({}),
    continueOnFail: () => false,
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    helpers: {
      async request(options) { return record('request', null, options); },
      async httpRequest(options) { return record('httpRequest', null, options); },
      async requestWithAuthentication(type, options) { return record('requestWithAuthentication', type, options); },
      async httpRequestWithAuthentication(type, options) {
        return record('httpRequestWithAuthentication', type, options);
      },
      async requestOAuth2(type, options) { return record('requestOAuth2', type, options); },
      async requestOAuth1(type, options) { return record('requestOAuth1', type, options); },
      returnJsonArray: (items) => (Array.isArray(items) ? items : [items]).map((json) => ({ json })),
      constructExecutionMetaData: (items) => items,
    },
  };
}

async function run(c) {
  const requests = [];
  try {
    const mod = require(path.join(dist, c.module));
    const [exported, member] = c.function.split('#');
    let fn = mod[exported];
    if (member) {
      let owner = mod[exported] && new mod[exported]();
      for (const part of member.split('.')) {
        fn = owner == null ? undefined : owner[part];
        if (typeof fn !== 'function') owner = fn;
      }
    }
    if (typeof fn !== 'function') throw new Error(`${c.module} exports no function ${c.function}`);
    await fn.call(context(c, requests), ...JSON.parse(JSON.stringify(c.args || [])));
    return { ok: true, requests };
  } catch (error) {
    return { ok: false, error: `${error && error.name}: ${error && error.message}`, requests };
  }
}

async function main(input) {
  const { now, cases } = JSON.parse(input);
  freezeClock(now);
  fixRandomness();
  const results = [];
  for (const c of cases) results.push(await run(c));
  process.stdout.write(JSON.stringify(results));
}

runMain(main);
