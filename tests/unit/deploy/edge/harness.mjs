// Runs deploy/edge/router.js under Node with CloudFront's documented interface mocked:
// `import cf from 'cloudfront'`, cf.kvs(id).get(key) (rejects for a missing key), cf.selectRequestOriginById(id).
// stdin: {"store": {...}, "requests": [event.request, ...]}; stdout: one result per request.
import { readFileSync } from 'node:fs';

const input = JSON.parse(readFileSync(0, 'utf8'));
const source = readFileSync(process.argv[2], 'utf8');
let selected = null;
globalThis.__cloudfront = {
  kvs: (id) => ({ get: async (key) => {
    if (id !== 'kvs-test') throw new Error('wrong store id');
    if (!(key in input.store)) throw new Error('key not found');
    return input.store[key];
  } }),
  selectRequestOriginById: (id) => { selected = id; },
};
const rewritten = source.replace("import cf from 'cloudfront';", 'const cf = globalThis.__cloudfront;')
  .replace('__KVS_ID__', 'kvs-test') + '\nexport { handler };\n';
const { handler } = await import('data:text/javascript,' + encodeURIComponent(rewritten));
const results = [];
for (const request of input.requests) {
  selected = null;
  const out = await handler({ request });
  results.push(out.statusCode ? { status: out.statusCode, body: JSON.parse(out.body.data) } : { origin: selected, uri: out.uri });
}
process.stdout.write(JSON.stringify(results));
