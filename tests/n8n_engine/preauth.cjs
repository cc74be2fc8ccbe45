// Run n8n's own preAuthentication methods (n8n-nodes-base's dist/credentials/*.credentials.js) with a frozen
// clock, recording the request each one sends instead of sending it and answering with a canned response, as
// the reference for fluxnex.n8n.preauth. `this.helpers.httpRequest` and the token-request client of
// @n8n/backend-network (Container.get(OutboundHttp).requests().request) are the two ways they reach the network;
// both are replaced by the recorder, everything else (jsonwebtoken, moment-timezone, @n8n/utils) is the real code.
// stdin: {dir, cases: [{file, className, credentials, now, response: {statusCode, headers, body}}]}
// stdout: [{ok: true, requests: [{via, options}], result} | {ok: false, error}]
'use strict';
const Module = require('module');
const path = require('path');

let recorded = [];
let canned = null;
const client = {
  request: async (options) => {
    recorded.push({ via: 'client', options });
    return canned.body;
  },
};
const stubs = {
  '@n8n/backend-network': { OutboundHttp: class OutboundHttp {}, httpStatusFromError: (e) => e?.response?.status },
  '@n8n/di': { Container: { get: () => ({ requests: () => client }) } },
};
const load = Module._load;
Module._load = function (request, parent, isMain) {
  if (Object.prototype.hasOwnProperty.call(stubs, request)) return stubs[request];
  return load.call(this, request, parent, isMain);
};

async function run(dir, c) {
  recorded = [];
  canned = c.response;
  const realNow = Date.now;
  Date.now = () => c.now * 1000;
  try {
    const Class = require(path.join(dir, c.file))[c.className];
    const helpers = {
      httpRequest: async (options) => {
        recorded.push({ via: 'httpRequest', options });
        if (options.returnFullResponse) return { body: canned.body, headers: canned.headers, statusCode: 200 };
        return canned.body;
      },
    };
    const result = await new Class().preAuthentication.call({ helpers }, { ...c.credentials });
    return { ok: true, requests: recorded, result };
  } catch (error) {
    return { ok: false, error: String(error && error.message), requests: recorded };
  } finally {
    Date.now = realNow;
  }
}

let input = '';
process.stdin.on('data', (chunk) => (input += chunk));
process.stdin.on('end', async () => {
  const { dir, cases } = JSON.parse(input);
  const out = [];
  for (const c of cases) out.push(await run(dir, c));
  process.stdout.write(JSON.stringify(out));
});
