// Offline check of an exported audit trail (NDJSON, manifest last) in the browser: each event's
// hash recomputed over its RFC 8785 canonical JSON, the chain links, seq continuity and the
// manifest's head. Checkpoint signatures are checked by the server's verify and the CLI.
const GENESIS = "0".repeat(64);

export function canonical(value) {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
}

async function sha256(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export async function verifyExport(text) {
  const lines = text.split("\n").filter((line) => line.trim());
  let parsed;
  try { parsed = lines.map((line) => JSON.parse(line)); }
  catch { return { valid: false, events: 0, first_invalid: { seq: null, reason: "the file is not NDJSON" } }; }
  const last = parsed.pop();
  const manifest = last && last.manifest;
  if (!manifest) return { valid: false, events: parsed.length, first_invalid: { seq: null, reason: "no manifest line" } };
  let previous = manifest.anchor_prev_hash || GENESIS;
  let expectedSeq = manifest.first_seq || 1;
  for (const event of parsed) {
    const fail = (reason) => ({ valid: false, events: parsed.length, manifest, first_invalid: { seq: event.seq, reason } });
    if (event.seq !== expectedSeq) return fail(`expected seq ${expectedSeq}`);
    if (event.prev_hash !== previous) return fail("prev_hash does not match the previous event's hash");
    const { hash, ...body } = event;
    if ((await sha256(canonical(body))) !== hash) return fail("the event's content does not match its hash");
    previous = hash;
    expectedSeq += 1;
  }
  if (parsed.length !== manifest.events || (parsed.length && previous !== manifest.head_hash)) {
    return { valid: false, events: parsed.length, manifest,
             first_invalid: { seq: expectedSeq, reason: "the manifest's head does not match the events (events removed?)" } };
  }
  return { valid: true, events: parsed.length, manifest, head_hash: manifest.head_hash };
}
