#!/usr/bin/env node
// Asks the unmodified Azure SDK for JS (@azure/identity, pinned in
// package-lock.json) for a managed-identity token, as a pod would:
//
//   node getToken.js RESOURCE [CLIENT_ID | --resource-id ARMID |
//                    --object-id OID] [--default] [--timeout-ms N]
//
// ManagedIdentityCredential by default; --default uses DefaultAzureCredential
// instead, which probes IMDS first (only when AZURE_POD_IDENTITY_AUTHORITY_HOST
// is unset).  No endpoint is overridden here: the SDK reaches
// 169.254.169.254, or AZURE_POD_IDENTITY_AUTHORITY_HOST when that is set.
// RESOURCE becomes the scope RESOURCE/.default (left alone if it already ends
// so); the SDK turns it back into the IMDS resource.
//
// Prints exactly one JSON line on stdout and exits 0 on success, 1 otherwise
// (2 on bad usage):
//   {"ok":true,"tokenSha256":HEX,"expiresOnTimestamp":MS}
//   {"ok":false,"error":ERROR_NAME,"message":TEXT}
// The token itself is never printed.  A hard timeout (default 20 s) ends the
// run with {"ok":false,"error":"Timeout",...}.
"use strict";

const crypto = require("node:crypto");

function usage(msg) {
  process.stderr.write(
    `getToken: ${msg}\nusage: node getToken.js RESOURCE [CLIENT_ID | ` +
      `--resource-id ARMID | --object-id OID] [--default] [--timeout-ms N]\n`,
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { resource: null, id: {}, useDefault: false, timeoutMs: 20000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--default") opts.useDefault = true;
    else if (a === "--resource-id") opts.id.resourceId = value();
    else if (a === "--object-id") opts.id.objectId = value();
    else if (a === "--timeout-ms") opts.timeoutMs = Number(value());
    else if (a.startsWith("--")) usage(`unknown option ${a}`);
    else if (opts.resource === null) opts.resource = a;
    else if (opts.id.clientId === undefined) opts.id.clientId = a;
    else usage(`unexpected argument ${a}`);
  }
  if (!opts.resource) usage("RESOURCE is required");
  if (Object.keys(opts.id).length > 1)
    usage("give at most one of CLIENT_ID, --resource-id, --object-id");
  if (!Number.isInteger(opts.timeoutMs) || opts.timeoutMs <= 0)
    usage("--timeout-ms must be a positive integer");
  return opts;
}

// One line, then exit: nothing the SDK left pending may print or linger.
let finished = false;
function finish(obj) {
  if (finished) return;
  finished = true;
  process.stdout.write(JSON.stringify(obj) + "\n", () =>
    process.exit(obj.ok ? 0 : 1),
  );
}

function credential(opts, identity) {
  const { id } = opts;
  if (opts.useDefault) {
    return new identity.DefaultAzureCredential({
      managedIdentityClientId: id.clientId,
      managedIdentityResourceId: id.resourceId,
      managedIdentityObjectId: id.objectId,
    });
  }
  // The documented forms: a client id string, or an options object.
  const MIC = identity.ManagedIdentityCredential;
  const { clientId, resourceId, objectId } = id;
  if (clientId !== undefined) return new MIC(clientId);
  if (resourceId !== undefined) return new MIC({ resourceId });
  if (objectId !== undefined) return new MIC({ objectId });
  return new MIC();
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const abort = new AbortController();
  setTimeout(() => {
    abort.abort();
    finish({
      ok: false,
      error: "Timeout",
      message: `no answer within ${opts.timeoutMs} ms`,
    });
  }, opts.timeoutMs);
  let identity;
  try {
    identity = require("@azure/identity");
  } catch (e) {
    return finish({ ok: false, error: "MissingModule", message: e.message });
  }
  const scope = opts.resource.endsWith("/.default")
    ? opts.resource
    : `${opts.resource}/.default`;
  try {
    const cred = credential(opts, identity);
    const tok = await cred.getToken(scope, { abortSignal: abort.signal });
    if (!tok || !tok.token) throw new Error("getToken returned no token");
    finish({
      ok: true,
      tokenSha256: crypto.createHash("sha256").update(tok.token).digest("hex"),
      expiresOnTimestamp: tok.expiresOnTimestamp,
    });
  } catch (e) {
    finish({
      ok: false,
      error: (e && e.name) || "Error",
      message: String((e && e.message) || e),
    });
  }
}

main();
