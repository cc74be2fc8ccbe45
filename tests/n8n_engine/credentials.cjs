// Resolve credential data, generic authenticate blocks and test requests with n8n's own code paths, as the
// reference for fluxnex.authenticate. The n8n CLI functions (CredentialsHelper.getCredentialsProperties,
// applyDefaultsAndOverwrites, resolveValue; RoutingNode's request resolution) are not in n8n-workflow, so the
// few lines that glue n8n-workflow's NodeHelpers and WorkflowExpression together are restated here.
// stdin: {catalog: [...credential types...], cases: [{type, data}]}; stdout: [{effective, authenticate, test}]
// where each part is {ok: true, value} or {ok: false, error}.
'use strict';
const path = require('path');
const dir = process.env.N8N_WORKFLOW_DIR;
if (!dir) {
  console.error('N8N_WORKFLOW_DIR is not set');
  process.exit(2);
}
const { NodeHelpers, Workflow } = require(path.join(dir, 'node_modules', 'n8n-workflow'));

const PINNED = ['authUrl', 'accessTokenUrl', 'grantType', 'authentication', 'requestTokenUrl', 'signatureMethod'];
const mockNode = { name: '', typeVersion: 1, type: 'mock', position: [0, 0], parameters: {} };
const nodeTypes = { getKnownTypes: () => ({}), getByName: () => undefined, getByNameAndVersion: () => undefined };
const workflow = new Workflow({ nodes: [mockNode], connections: {}, active: false, nodeTypes });

function properties(byName, name) {
  // CredentialsHelper.getCredentialsProperties
  const type = byName[name];
  if (type.extends === undefined) {
    if (['oAuth1Api', 'oAuth2Api'].includes(name)) {
      return [...type.properties, { displayName: 'oauthTokenData', name: 'oauthTokenData', type: 'json',
        required: false, default: {} }];
    }
    return type.properties;
  }
  const combined = [];
  for (const parent of type.extends) NodeHelpers.mergeNodeProperties(combined, properties(byName, parent));
  NodeHelpers.mergeNodeProperties(combined, type.properties);
  return combined;
}

function effective(props, original) {
  // CredentialsHelper.applyDefaultsAndOverwrites (no overwrites configured)
  const stored = { ...original };
  for (const field of PINNED) {
    if (props.some((p) => p.name === field && p.type === 'hidden')) delete stored[field];
  }
  let data = NodeHelpers.getNodeParameters(props, stored, true, false, null, null);
  if (original.oauthTokenData !== undefined) data.oauthTokenData = original.oauthTokenData;
  for (const key of ['allowedHttpRequestDomains', 'allowedDomains']) {
    if (data[key] === undefined && original[key] !== undefined) data[key] = original[key];
  }
  data = workflow.expression.getComplexParameterValue(mockNode, data, 'internal', {}, undefined, undefined, data);
  return data;
}

function resolveValue(value, credentials) {
  // CredentialsHelper.resolveValue
  if (typeof value !== 'string' || value.charAt(0) !== '=') return value;
  const result = workflow.expression.getSimpleParameterValue(mockNode, value, 'internal',
    { $credentials: credentials }, undefined, '');
  if (!result) return '';
  return result.toString();
}

function authenticate(block, credentials) {
  if (!block || block.type !== 'generic') return {};
  const out = {};
  for (const [outer, inner] of Object.entries(block.properties)) {
    for (const [key, value] of Object.entries(inner)) {
      if (!out[outer]) out[outer] = {};
      out[outer][resolveValue(key, credentials)] = resolveValue(value, credentials);
    }
  }
  return out;
}

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

function attempt(fn) {
  try {
    const value = fn();
    return value === undefined ? { ok: true, undefined: true } : { ok: true, value };
  } catch (error) {
    return { ok: false, error: `${error && error.name}: ${error && error.message}` };
  }
}

function main(input) {
  const { catalog, cases } = JSON.parse(input);
  const byName = Object.fromEntries(catalog.map((t) => [t.name, t]));
  const results = cases.map((c) => {
    const type = byName[c.type];
    const props = properties(byName, c.type);
    const eff = attempt(() => effective(props, c.data));
    const creds = eff.ok ? eff.value : {};
    return {
      properties: props.map((p) => p.name),
      effective: eff,
      authenticate: attempt(() => authenticate(type.authenticate, creds)),
      test: attempt(() => testRequest(type.test, creds)),
    };
  });
  process.stdout.write(JSON.stringify(results));
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => main(input));
