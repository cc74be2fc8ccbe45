// Resolve credential data, generic authenticate blocks and test requests with n8n's own code, as the reference
// for fluxnex.n8n.authenticate. Properties (getCredentialsProperties), effective data
// (applyDefaultsAndOverwrites) and generic authenticate blocks come from n8n's compiled CLI module
// dist/credentials-helper.js (N8N_CLI_DIST, see tests/engine_support.py), loaded with n8n-workflow real and the
// CLI's service dependencies (database, DI container, licensing, n8n-core's getAdditionalKeys) stubbed: none of
// them takes part in these three computations when no overwrites are configured. Only the test request
// resolution (RoutingNode, which needs a whole node execution context) is restated here.
// stdin: {catalog: [...credential types...], cases: [{type, data}]}; stdout: [{properties, effective,
// authenticate, test}] where each part is {ok: true, value} or {ok: false, error}.
'use strict';
const { runMain } = require('./_harness.cjs');
const path = require('path');
const Module = require('module');

const dir = process.env.N8N_WORKFLOW_DIR;
const cliDist = process.env.N8N_CLI_DIST;
if (!dir || !cliDist) {
  console.error('N8N_WORKFLOW_DIR and N8N_CLI_DIST must be set');
  process.exit(2);
}
const n8nWorkflow = require(path.join(dir, 'node_modules', 'n8n-workflow'));
const { Workflow } = n8nWorkflow;

function loadCredentialsHelper() {
  const stubs = {
    'n8n-workflow': n8nWorkflow,
    '@n8n/di': { Service: () => (target) => target },
    'n8n-core': { getAdditionalKeys: () => ({}), Credentials: class {} },
    '../constants': { RESPONSE_ERROR_MESSAGES: { NO_NODE: 'Unknown node type' } },
  };
  const real = (request) => request === './oauth/dcr-managed-fields' || request === './credentials/mock-node-types';
  const originalLoad = Module._load;
  Module._load = function load(request, parent, isMain) {
    if (Object.prototype.hasOwnProperty.call(stubs, request)) return stubs[request];
    if (parent && parent.filename && parent.filename.startsWith(cliDist) && !real(request)) return {};
    return originalLoad.call(this, request, parent, isMain);
  };
  try {
    return require(path.join(cliDist, 'credentials-helper.js')).CredentialsHelper;
  } finally {
    Module._load = originalLoad;
  }
}

const CredentialsHelper = loadCredentialsHelper();
const mockNode = { name: '', typeVersion: 1, type: 'mock', position: [0, 0], parameters: {} };
const nodeTypes = { getKnownTypes: () => ({}), getByName: () => undefined, getByNameAndVersion: () => undefined };
const workflow = new Workflow({ nodes: [mockNode], connections: {}, active: false, nodeTypes });

function testRequest(test, credentials) {
  // RoutingNode.getRequestOptionsFromParameters for the credential tester's temporary property
  if (!test || !test.request) return null;
  const out = {};
  for (const [key, value] of Object.entries(test.request)) {
    if (typeof value === 'object' || (typeof value === 'string' && value.charAt(0) === '=')) {
      out[key] = workflow.expression.getSimpleParameterValue(mockNode, value, 'internal',
        { $credentials: credentials, $value: '', $version: 1 }, undefined, undefined);
    } else {
      out[key] = value;
    }
  }
  return out;
}

async function attempt(fn) {
  try {
    const value = await fn();
    return value === undefined ? { ok: true, undefined: true } : { ok: true, value };
  } catch (error) {
    return { ok: false, error: `${error && error.name}: ${error && error.message}` };
  }
}

async function authenticate(helper, type, credentials) {
  // CredentialsHelper.authenticate always adds `headers`; a block that sets none leaves it empty
  const options = await helper.authenticate(credentials, type.name, {}, workflow, mockNode);
  if (options.headers && Object.keys(options.headers).length === 0) delete options.headers;
  return options;
}

async function main(input) {
  const { catalog, cases } = JSON.parse(input);
  const byName = Object.fromEntries(catalog.map((t) => [t.name, t]));
  const credentialTypes = { getByName: (name) => byName[name] };
  const noOverwrites = { applyOverwrite: (_type, data) => data };
  const helper = new CredentialsHelper(credentialTypes, noOverwrites);
  const results = [];
  for (const c of cases) {
    const type = byName[c.type];
    const props = helper.getCredentialsProperties(c.type);
    const eff = await attempt(() => helper.applyDefaultsAndOverwrites({}, structuredClone(c.data), c.type, 'internal'));
    const creds = eff.ok ? eff.value : {};
    results.push({
      properties: props.map((p) => p.name),
      effective: eff,
      authenticate: await attempt(() => authenticate(helper, type, structuredClone(creds))),
      test: await attempt(() => testRequest(type.test, creds)),
    });
  }
  process.stdout.write(JSON.stringify(results));
}

runMain(main);
