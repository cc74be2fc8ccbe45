// Run n8n's own code-authenticated credential classes (n8n-nodes-base's dist/credentials/*.credentials.js) on
// request options, as the reference for fluxnex.n8n.code_auth. The clock is frozen (Date, Date.now) so signed
// dates and JWT times are reproducible; token-exchange POSTs go to a recording client that answers with a token
// derived from the request (the Python side's fake fetcher does the same), so nothing leaves the machine.
// stdin: {now: epoch ms, cases: [{type, credentials, options}]}
// stdout: [{ok: true, value, tokenRequests} | {ok: false, error, tokenRequests}]
'use strict';
const { freezeClock, runMain } = require('./_harness.cjs');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const engine = process.env.N8N_CODE_ENGINE_DIR;
if (!engine) {
  console.error('N8N_CODE_ENGINE_DIR is not set');
  process.exit(2);
}
const credentialsDir = path.join(engine, 'n8n-nodes-base', 'dist', 'credentials');

let tokenRequests = [];
function fakeTokenClient() {
  return {
    async request(options) {
      const seen = { url: options.url, method: options.method, headers: options.headers || {},
        body: options.body === undefined ? null : options.body, auth: options.auth || null };
      tokenRequests.push(seen);
      const digest = crypto.createHash('sha256').update(`${seen.url}\n${seen.body}`).digest('hex').slice(0, 16);
      return { access_token: `tok-${digest}`, token_type: 'Bearer', expires_in: 3600 };
    },
  };
}

function canonical(value) {
  // JSON with object keys sorted (Python's json.dumps(sort_keys=True, separators=(',', ':')))
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function derived(seen) {
  return crypto.createHash('sha256').update(canonical(seen)).digest('hex').slice(0, 16);
}

function stsRecord(req, body) {
  // what an AssumeRole call asked: its form, and the region, key id and session token it was signed with
  const credential = /Credential=([^/]*)\/[^/]*\/([^/]*)\//.exec(req.headers.authorization || '') || [];
  return { sts: { form: Object.fromEntries(new URLSearchParams(body)), region: credential[2] || null,
    accessKeyId: credential[1] || null, sessionToken: req.headers['x-amz-security-token'] || null } };
}

function fakeSts() {
  // STS answers from a local server: the AWS SDK is pointed at it with AWS_ENDPOINT_URL_STS, so n8n's real
  // AssumeRole request (built and signed by the SDK) is what gets recorded
  const http = require('http');
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      const seen = stsRecord(req, body);
      tokenRequests.push(seen);
      const d = derived(seen);
      res.writeHead(200, { 'Content-Type': 'text/xml' });
      res.end(`<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>
<Credentials><AccessKeyId>ASIA${d}</AccessKeyId><SecretAccessKey>secret-${d}</SecretAccessKey>
<SessionToken>session-${d}</SessionToken><Expiration>2026-01-01T01:00:00Z</Expiration></Credentials>
<AssumedRoleUser><Arn>arn:aws:sts::1:assumed-role/r/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>
</AssumeRoleResult></AssumeRoleResponse>`);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    process.env.AWS_ENDPOINT_URL_STS = `http://127.0.0.1:${server.address().port}`;
    resolve(server);
  }));
}

function loadTypes() {
  const tokenRequest = require(path.join(credentialsDir, 'common', 'token-request.js'));
  tokenRequest.getTokenRequestClient = fakeTokenClient;
  const byName = {};
  for (const file of fs.readdirSync(credentialsDir).filter((f) => f.endsWith('.credentials.js')).sort()) {
    let mod;
    try {
      mod = require(path.join(credentialsDir, file));
    } catch (error) {
      continue; // a class whose optional dependency (oracledb) is not installed: not code-authenticated
    }
    for (const value of Object.values(mod)) {
      if (typeof value !== 'function') continue;
      let instance;
      try {
        instance = new value();
      } catch (error) {
        continue; // an exported helper function, not a credential class
      }
      if (instance && typeof instance.name === 'string') byName[instance.name] = instance;
    }
  }
  return byName;
}

function codeAuthenticated(byName) {
  // the types whose authenticate is a method (not a declarative object) and which n8n does not pre-authenticate
  return Object.values(byName)
    .filter((t) => typeof t.authenticate === 'function')
    .filter((t) => typeof t.preAuthentication !== 'function'
      && !(t.properties || []).some((p) => p.typeOptions && p.typeOptions.expirable))
    .map((t) => t.name)
    .sort();
}

async function run(byName, c) {
  tokenRequests = [];
  try {
    const options = JSON.parse(JSON.stringify(c.options));
    const credentials = JSON.parse(JSON.stringify(c.credentials));
    const value = await byName[c.type].authenticate(credentials, options);
    return { ok: true, value: JSON.parse(JSON.stringify(value)), tokenRequests };
  } catch (error) {
    return { ok: false, error: `${error && error.name}: ${error && error.message}`, tokenRequests };
  }
}

async function main(input) {
  const { now, cases, list } = JSON.parse(input);
  const sts = await fakeSts();
  freezeClock(now);
  const byName = loadTypes();
  if (list) {
    sts.close();
    process.stdout.write(JSON.stringify(codeAuthenticated(byName)));
    return;
  }
  const results = [];
  for (const c of cases) results.push(await run(byName, c));
  sts.close();
  process.stdout.write(JSON.stringify(results));
}

runMain(main);
