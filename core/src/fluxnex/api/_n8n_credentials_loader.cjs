// Loads the compiled credential classes of an n8n community package and prints them as n8n catalog JSON.
// Run once by `fluxnex n8n install` (fluxnex/api/n8n_packages.py), never at run time.
// argv[2]: JSON list of absolute paths of *.credentials.js files; argv[3]: the file the result is written to (not
// stdout: a package's code may print). The result is a JSON list, one entry per file:
// {file, credentials: [{definition, codeAuthenticate, preAuthentication}]} | {file, missing: "module"} |
// {file, error: "..."}.
'use strict';

function plain(instance) {
  // what JSON.stringify keeps of the instance (functions dropped), as n8n's own catalog export does
  return JSON.parse(JSON.stringify(instance, (key, value) => (typeof value === 'function' ? undefined : value)));
}

function isCredential(value) {
  return value !== null && typeof value === 'object' && typeof value.name === 'string'
    && Array.isArray(value.properties);
}

function load(file) {
  let exported;
  try {
    exported = require(file);
  } catch (error) {
    const match = error && error.code === 'MODULE_NOT_FOUND' && /Cannot find module '([^']+)'/.exec(error.message);
    if (match && !match[1].startsWith('.') && !match[1].startsWith('/')) return { file, missing: match[1] };
    return { file, error: `${error && error.name}: ${error && error.message}`.split('\n')[0] };
  }
  const credentials = [];
  for (const value of Object.values(exported || {})) {
    if (typeof value !== 'function') continue;
    let instance;
    try {
      instance = new value();
    } catch (error) {
      continue; // not a credential class (a helper function exported beside it)
    }
    if (!isCredential(instance)) continue;
    const definition = plain(instance);
    const codeAuthenticate = typeof instance.authenticate === 'function';
    if (codeAuthenticate) definition.authenticate = {};
    credentials.push({ definition, codeAuthenticate,
      preAuthentication: typeof instance.preAuthentication === 'function' });
  }
  return { file, credentials };
}

const files = JSON.parse(process.argv[2]);
require('fs').writeFileSync(process.argv[3], JSON.stringify(files.map(load)));
