// Screens of compliance officers: home (officer-home.js) and a named tenant's audit trail: events paged and
// filtered (time, action, actor, outcome), the chain's picture per day, verify, export (checked in the
// browser, verify.js), the proof of one event for `python -m chalicelib.cli audit prove`.
import { h, card, field, errorText, badge } from "./ui.js";
import { verifyExport } from "./verify.js";
import { home, single } from "./officer-home.js";
import { when, day, localDay, zone, actorText, stackTable, columnChart, busy, roleName } from "./officer-ui.js";

const ACTIONS = ["learner.create", "learner.read", "learner.list", "learner.search", "learner.update", "learner.erase",
  "result.create", "result.read", "consent.create", "consent.read", "consent.coverage", "request.create", "request.read",
  "request.fulfil", "request.list_overdue", "legal_hold.create", "incident.create", "incident.read", "incident.list",
  "tenant.read", "tenant.list", "audit.read", "audit.verify", "audit.export", "audit.prove", "audit.status",
  "siem_stream.update", "alert.sent", "inbox.read", "inbox.mark_read"];
const ROLES = ["tenant_staff", "tenant_admin", "regional_admin", "compliance_officer", "platform_admin", "system"];
const PAGE = 100;

function verdict(result) {
  if (result.valid) return h("p", { "data-testid": "verdict" }, badge("Valid", "valid"), ` ${result.events} events, head ${(result.head_hash || "—").slice(0, 16)}…`);
  const bad = result.first_invalid || {};
  return h("p", { "data-testid": "verdict" }, badge("Invalid", "invalid"),
    ` first bad event: seq ${bad.seq ?? "?"} (${bad.reason || "no reason given"})`);
}

function download(name, text, type, label) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  return h("a", { href: url, download: name }, label);
}

function statusCard(api, tenantId) {
  const body = h("div");
  const refresh = () => busy(body, "Loading the trail's status…", async () => {
    const s = await api.call("GET", `/v1/tenants/${tenantId}/audit/status`);
    const v = s.last_verification, e = s.last_export;
    body.replaceChildren(h("dl", { class: "fields" },
      h("dt", {}, "Events in the trail"), h("dd", {}, s.events.toLocaleString()),
      h("dt", {}, "Last verification"), h("dd", { "data-testid": "last-verification" },
        v ? [badge(v.valid ? "Chain valid" : "Chain broken", v.valid ? "valid" : "invalid"), ` ${when(v.at)} by ${roleName(v.by_role)}`] : "Never verified"),
      h("dt", {}, "Last export"), h("dd", { "data-testid": "last-export" },
        e ? `${when(e.at)} (${e.kind === "bucket" ? "to the export bucket" : "downloaded"}) by ${roleName(e.by_role)}` : "Never exported")));
  }).catch((error) => body.replaceChildren(errorText(error)));
  return { section: card("Status", body), refresh };
}

function streamCard(api, tenantId) {
  // The tenant's OCSF stream to its SIEM (docs/siem.md): on or off, and how far it is delivered
  const body = h("div");
  const show = (s) => {
    const toggle = h("button", { type: "button", "data-testid": "stream-toggle", onclick: () => busy(body,
      s.enabled ? "Switching the stream off…" : "Switching the stream on…",
      async () => show(await api.call("PUT", `/v1/tenants/${tenantId}/audit/stream`, { enabled: !s.enabled })))
      .catch((error) => body.replaceChildren(errorText(error))) }, s.enabled ? "Switch the stream off" : "Switch the stream on");
    body.replaceChildren(h("dl", { class: "fields" },
      h("dt", {}, "Stream"), h("dd", { "data-testid": "stream-state" }, badge(s.enabled ? "On" : "Off", s.enabled ? "valid" : "due_soon")),
      h("dt", {}, "Delivered up to"), h("dd", {}, s.delivered_seq ? `seq ${s.delivered_seq.toLocaleString()}` : "Nothing yet"),
      h("dt", {}, "Written to"), h("dd", {}, h("code", {}, s.location))), toggle);
  };
  busy(body, "Loading the stream's state…", async () => show(await api.call("GET", `/v1/tenants/${tenantId}/audit/stream`)))
    .catch((error) => body.replaceChildren(errorText(error)));
  return card("SIEM stream (OCSF)", h("p", { class: "muted" },
    "Every sealed event as an OCSF API Activity record in this region's SIEM bucket. Switched on again, it resumes where it stopped."), body);
}

function pictureCard(api, tenantId) {
  const body = h("div");
  busy(body, "Drawing the last 30 days…", async () => {
    const a = await api.call("GET", `/v1/tenants/${tenantId}/audit/activity`);
    const perDay = new Map();
    for (const hour of a.hours) {
      const key = localDay(new Date(hour.hour));
      perDay.set(key, (perDay.get(key) || 0) + hour.events);
    }
    const days = [];
    for (let t = Date.parse(a.from); t < Date.parse(a.to) + 864e5; t += 864e5) {
      const key = localDay(new Date(t));
      if (!days.includes(key) && key <= localDay(new Date(a.to))) days.push(key);
    }
    const marked = new Set(a.checkpoints.map((c) => localDay(new Date(c.at))));
    const total = [...perDay.values()].reduce((x, y) => x + y, 0);
    const busiest = [...perDay.entries()].sort((x, y) => y[1] - x[1])[0];
    const summary = `${total.toLocaleString()} events from ${day(a.from)} to ${day(a.to)} (days in ${zone})` +
      (busiest ? `; busiest day ${day(busiest[0] + "T12:00:00")} with ${busiest[1]}` : "") +
      `; ${a.checkpoints.length} signed checkpoint(s).`;
    const label = `Events per day, last 30 days: ${days.filter((d) => perDay.get(d)).map((d) => `${d}: ${perDay.get(d)}`).join(", ") || "none"}`;
    const recent = a.checkpoints.slice(-10).reverse();
    body.replaceChildren(h("p", { "data-testid": "picture-summary" }, summary),
      columnChart({ label, bars: days.map((d) => ({ key: d, label: d, value: perDay.get(d) || 0 })), marked }),
      h("p", { class: "axis muted", "aria-hidden": "true" }, h("span", {}, day(a.from)), h("span", {}, day(a.to))),
      h("p", { class: "muted" }, "Bars: events per day in your time zone; an amber outline marks a day with a signed checkpoint."),
      stackTable(`Signed checkpoints: the ${recent.length} most recent of ${a.checkpoints.length}`, ["Seq", "Signed", "Head hash", "Key"],
        recent.map((c) => [String(c.seq), when(c.at), c.head_hash.slice(0, 16) + "…", c.key_id.split("/").pop()])));
  }).catch((error) => body.replaceChildren(errorText(error)));
  return card("Events per day and checkpoints", body);
}

function integrityCard(api, tenantId, status) {
  const box = h("div", {}, h("p", {}, "Not verified yet."));
  const check = h("button", { type: "button", onclick: () => busy(box, "Verifying the whole chain…", async () => {
    box.replaceChildren(verdict(await api.call("GET", `/v1/tenants/${tenantId}/audit/verify`)));
    status.refresh();
  }).catch((error) => box.replaceChildren(errorText(error))) }, "Verify the stored trail");
  return card("Integrity", check, box);
}

function exportCard(api, tenantId, name, status) {
  const box = h("div");
  const fileInput = h("input", { type: "file", accept: ".ndjson,application/x-ndjson", name: "file" });
  const fileVerdict = h("div");
  fileInput.addEventListener("change", async () => {
    const file = fileInput.files[0];
    if (file) fileVerdict.replaceChildren(verdict(await verifyExport(await file.text())));
  });
  const button = h("button", { type: "button", onclick: () => busy(box, "Exporting and checking the trail…", async () => {
    const text = await api.call("GET", `/v1/tenants/${tenantId}/audit?format=ndjson`, undefined, { raw: true });
    const file = `audit-${name.toLowerCase().replace(/[^a-z0-9]+/g, "-")}-${localDay(new Date())}.ndjson`;
    box.replaceChildren(h("p", {}, download(file, text, "application/x-ndjson", "Download the export (NDJSON)")),
      verdict(await verifyExport(text)));
    status.refresh();
  }).catch((error) => box.replaceChildren(errorText(error))) }, "Export the trail");
  return card("Export", h("p", { class: "muted" }, "The whole trail as NDJSON with its manifest, checked here in your browser."),
    button, box, field("Verify an export file", fileInput), fileVerdict);
}

function proofCard(api, tenantId, name, seqInput) {
  const box = h("div");
  const form = h("form", { class: "inline", "aria-label": "Proof of one event" },
    field("Event seq", seqInput), h("button", { type: "submit" }, "Get the proof"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(box, "Building the proof…", async () => {
      const seq = seqInput.value;
      const proof = await api.call("GET", `/v1/tenants/${tenantId}/audit/proof?seq=${encodeURIComponent(seq)}`);
      const file = `proof-${name.toLowerCase().replace(/[^a-z0-9]+/g, "-")}-seq-${seq}.json`;
      box.replaceChildren(h("p", { role: "status" }, `Proof of event ${seq} against the signed tree head of ${
        (proof.tree_head && proof.tree_head.tree_size) || proof.tree_size || "the trail"} events: `,
      download(file, JSON.stringify(proof, null, 2), "application/json", `Download ${file}`)),
      h("p", { class: "muted" }, "Check it offline: ", h("code", {}, `python -m chalicelib.cli audit prove ${file}`)));
    }).catch((error) => box.replaceChildren(errorText(error)));
  });
  return card("Proof of one event", h("p", { class: "muted" },
    "An inclusion proof of one event in the KMS-signed Merkle tree of the trail (pick a seq, or Proof on a row below)."), form, box);
}

// "with action learner.read, actor Tenant staff, from 4 Dec 2026, 10:00 GMT"
function describe(values, session) {
  const parts = Object.entries(values).map(([k, v]) => {
    if (k === "actor") return `actor ${v === session.sub ? "you" : roleName(v)}`;
    return `${k} ${k === "from" || k === "to" ? when(v) : v}`;
  });
  return parts.length ? ` with ${parts.join(", ")}` : "";
}

// The region's signing keys (GET /v1/audit/keys), for checking proofs and exports offline with --keys.
function keysCard(api) {
  const body = h("div");
  busy(body, "Loading the signing keys…", async () => {
    const set = await api.call("GET", "/v1/audit/keys");
    body.replaceChildren(stackTable(`${set.keys.length} key(s) this region has signed with, oldest first`,
      ["Key", "Valid from", "Valid until"], set.keys.map((k) => [k.key_id.split("/").pop(), when(k.valid_from),
        k.valid_until ? when(k.valid_until) : "in use"])),
    h("p", {}, download("audit-keys.json", JSON.stringify(set, null, 2), "application/json", "Download audit-keys.json"),
      " (for ", h("code", {}, "audit verify --keys"), " and ", h("code", {}, "audit prove --keys"), ")"));
  }).catch((error) => body.replaceChildren(h("p", { class: "muted", "data-testid": "keys-unavailable" },
    `The signing keys could not be listed here (${error.message}).`)));
  return card("Signing keys", body);
}

function localInput(value) {
  return value ? new Date(value).toISOString() : "";  // datetime-local is the user's own time
}

function eventsCard(api, tenantId, session, prove) {
  const results = h("div", { "aria-live": "polite" });
  const timing = h("p", { class: "muted", "data-testid": "filter-time" });
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Load more events");
  const filters = h("form", { class: "inline", "aria-label": "Filter events" },
    field(`From (${zone})`, h("input", { name: "from", type: "datetime-local" })),
    field(`To (${zone})`, h("input", { name: "to", type: "datetime-local" })),
    field("Action", h("input", { name: "action", list: "audit-actions", placeholder: "learner.read", autocomplete: "off" })),
    h("datalist", { id: "audit-actions" }, ACTIONS.map((a) => h("option", { value: a }))),
    field("Actor", h("select", { name: "actor" }, h("option", { value: "" }, "anyone"),
      h("option", { value: session.sub || "" }, "you"), ROLES.map((r) => h("option", { value: r }, roleName(r))))),
    field("Outcome", h("select", { name: "outcome" }, ["", "success", "denied", "rejected", "error"].map((o) => h("option", { value: o }, o || "any")))),
    h("button", { type: "submit" }, "Filter"));
  let shown = [];
  let cursor = null;
  let query = "";
  let described = "";
  let generation = 0;

  function row(e) {
    return [String(e.seq), when(e.at), e.action, actorText(e.actor, session),
      badge(e.outcome, e.outcome === "success" ? "ok" : "invalid"), e.resource.replace(`tenants/${tenantId}`, "…"),
      h("button", { type: "button", class: "secondary", "aria-label": `Proof of event ${e.seq}`, onclick: () => prove(e.seq) }, "Proof")];
  }

  function draw() {
    results.replaceChildren(stackTable(`${shown.length} event(s)${described}${cursor ? ", more to load" : ""}, oldest first`,
      ["Seq", "When", "Action", "Actor", "Outcome", "Resource", "Proof"], shown.map(row), "No event matches."));
    more.hidden = !cursor;
  }

  async function fetchPage() {
    const mine = generation;
    const page = await api.call("GET", `/v1/tenants/${tenantId}/audit/events?${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    if (mine !== generation) return;
    shown = shown.concat(page.items);
    cursor = page.next_cursor;
  }

  async function search() {
    const began = performance.now();
    const values = Object.fromEntries([...new FormData(filters).entries()].filter(([, v]) => v !== ""));
    for (const k of ["from", "to"]) if (values[k]) values[k] = localInput(values[k]);
    generation += 1;
    described = describe(values, session);
    query = new URLSearchParams({ ...values, limit: String(PAGE) }).toString();
    shown = [];
    cursor = null;
    await busy(results, "Filtering events…", async () => {
      await fetchPage();
      // a rare action: a page scans a stretch of the chain and may come back short; look a little further
      for (let i = 0; i < 3 && shown.length < 20 && cursor; i += 1) await fetchPage();
    });
    draw();
    timing.textContent = `Shown in ${Math.round(performance.now() - began)} ms.`;
  }

  filters.addEventListener("submit", (event) => { event.preventDefault(); search().catch((e) => results.replaceChildren(errorText(e))); });
  more.addEventListener("click", () => busy(results, "Loading more events…", fetchPage).then(draw)
    .catch((e) => results.replaceChildren(errorText(e))));
  return { section: card("Events", filters, timing, results, more), search };
}

async function audit(main, { api, args, session, title }) {
  const tenantId = args[0];
  if (!tenantId) { location.hash = "#/home"; return; }
  const tenant = await api.call("GET", `/v1/tenants/${tenantId}`);
  if (title) title(`Audit trail of ${tenant.name}`);
  const seqInput = h("input", { name: "seq", type: "number", min: "1", required: true, inputmode: "numeric" });
  const proofs = proofCard(api, tenantId, tenant.name, seqInput);
  const prove = (seq) => { seqInput.value = String(seq); proofs.scrollIntoView({ block: "nearest" }); proofs.querySelector("form").requestSubmit(); };
  const status = statusCard(api, tenantId);
  const events = eventsCard(api, tenantId, session, prove);
  main.append(h("p", { class: "muted" }, `${tenant.name} · ${tenant.jurisdiction} · homed in ${tenant.home_region}. Times in ${zone}.`),
    status.section, pictureCard(api, tenantId), integrityCard(api, tenantId, status),
    exportCard(api, tenantId, tenant.name, status), proofs, streamCard(api, tenantId), keysCard(api), events.section);
  status.refresh();
  await events.search();
}

export const auditScreens = [
  { id: "home", title: "Home", render: home },
  { id: "requests", title: "Requests due", render: single("requests") },
  { id: "incidents", title: "Incidents", render: single("incidents") },
  { id: "tenants", title: "Audit trails", render: single("trails") },
  { id: "consent", title: "Consent coverage", render: single("consent") },
  { id: "audit", title: "Audit trail", render: audit, hidden: true },
];
