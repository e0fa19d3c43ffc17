// Screens of compliance officers: the tenant's audit trail (filters, verify, export, checkpoints, timeline).
import { h, card, table, field, errorText, formValues, badge } from "./ui.js";
import { verifyExport } from "./verify.js";

async function tenants(main, { api }) {
  const page = await api.call("GET", "/v1/tenants?limit=200");
  main.append(card("Tenants in your region", table(`Homed in ${api.session.region}: open one's audit trail`,
    ["Name", "Tenant id", "Jurisdiction", "State"],
    page.items.map((t) => [h("a", { href: `#/audit/${t.tenant_id}` }, t.name), t.tenant_id, t.jurisdiction,
                           t.state || "—"]))));
}

function verdict(result) {
  if (result.valid) return h("p", { "data-testid": "verdict" }, badge("Valid", "valid"), ` ${result.events} events, head ${result.head_hash || "—"}`);
  const bad = result.first_invalid || {};
  return h("p", { "data-testid": "verdict" }, badge("Invalid", "invalid"),
    ` first bad event: seq ${bad.seq ?? "?"} (${bad.reason || "no reason given"})`);
}

function timeline(events, checkpoints) {
  const days = new Map();
  for (const e of events) days.set(e.at.slice(0, 10), (days.get(e.at.slice(0, 10)) || 0) + 1);
  const marked = new Set(checkpoints.map((c) => (c.at || "").slice(0, 10)));
  const most = Math.max(1, ...days.values());
  const sorted = [...days.entries()].sort();
  return h("div", {},
    h("div", { class: "timeline", role: "img", "aria-label": `Events per day: ${sorted.map(([d, n]) => `${d} ${n}`).join(", ")}` },
      sorted.map(([day, n]) => h("div", { class: `day${marked.has(day) ? " checkpoint" : ""}`, style: `height:${Math.round((n / most) * 100)}%`, title: `${day}: ${n}` }))),
    h("p", { class: "muted" }, "Bars: events per day; an amber outline marks a day with a signed checkpoint."));
}

async function audit(main, { api, args }) {
  const tenantId = args[0];
  if (!tenantId) { location.hash = "#/tenants"; return; }
  const path = `/v1/tenants/${tenantId}/audit`;
  const verdictBox = h("div", {}, h("p", {}, "Not verified yet."));
  const check = h("button", { type: "button", onclick: async () => {
    try { verdictBox.replaceChildren(verdict(await api.tenantCall(tenantId, "GET", `${path}/verify`))); }
    catch (error) { verdictBox.replaceChildren(errorText(error)); }
  } }, "Verify the stored trail");
  const exportBox = h("div");
  const fileInput = h("input", { type: "file", accept: ".ndjson,application/x-ndjson", name: "file" });
  const fileVerdict = h("div");
  fileInput.addEventListener("change", async () => {
    const file = fileInput.files[0];
    if (file) fileVerdict.replaceChildren(verdict(await verifyExport(await file.text())));
  });
  const exportButton = h("button", { type: "button", onclick: async () => {
    try {
      const text = await api.tenantCall(tenantId, "GET", `${path}?format=ndjson`, undefined, { raw: true });
      const url = URL.createObjectURL(new Blob([text], { type: "application/x-ndjson" }));
      exportBox.replaceChildren(h("p", {}, h("a", { href: url, download: `audit-${tenantId}.ndjson` }, "Download the export (NDJSON)")),
        verdict(await verifyExport(text)));
    } catch (error) { exportBox.replaceChildren(errorText(error)); }
  } }, "Export the trail");
  const filters = h("form", { class: "inline", "aria-label": "Filter events" },
    field("From (UTC)", h("input", { name: "from", type: "datetime-local" })),
    field("To (UTC)", h("input", { name: "to", type: "datetime-local" })),
    field("Action", h("input", { name: "action", placeholder: "learner.read" })),
    field("Actor (sub or role)", h("input", { name: "actor" })),
    field("Outcome", h("select", { name: "outcome" }, ["", "success", "denied", "rejected", "error"].map((o) => h("option", { value: o }, o || "any")))),
    h("button", { type: "submit" }, "Filter"));
  const events = h("div");
  const pictures = h("div");
  async function load() {
    const values = formValues(filters);
    for (const k of ["from", "to"]) if (values[k]) values[k] += ":00Z";
    const query = new URLSearchParams({ ...values, limit: "200" }).toString();
    const page = await api.tenantCall(tenantId, "GET", `${path}/events?${query}`);
    events.replaceChildren(table(`${page.items.length} event(s)${page.next_cursor ? " (first 200)" : ""}`,
      ["Seq", "At", "Action", "Actor", "Outcome", "Resource"],
      page.items.map((e) => [String(e.seq), e.at, e.action, `${e.actor.role} ${e.actor.sub.slice(0, 8)}`,
        badge(e.outcome, e.outcome === "success" ? "ok" : "invalid"), e.resource])));
    const whole = await api.tenantCall(tenantId, "GET", `${path}?format=ndjson`, undefined, { raw: true });
    const lines = whole.split("\n").filter(Boolean).map((l) => JSON.parse(l));
    const manifest = lines.pop().manifest;
    pictures.replaceChildren(timeline(lines, manifest.checkpoints || []),
      table("Signed checkpoints", ["Seq", "At", "Head hash", "Key"],
        (manifest.checkpoints || []).map((c) => [String(c.seq), c.at, c.head_hash.slice(0, 16) + "…", c.key_id])));
  }
  filters.addEventListener("submit", async (event) => { event.preventDefault(); try { await load(); } catch (e) { events.replaceChildren(errorText(e)); } });
  main.append(card("Integrity", check, verdictBox),
    card("Export", exportButton, exportBox, field("Verify an export file", fileInput), fileVerdict),
    card("Events", filters, events), card("Timeline and checkpoints", pictures));
  await load();
}

export const auditScreens = [
  { id: "tenants", title: "Tenants", render: tenants },
  { id: "audit", title: "Audit trail", render: audit, hidden: true },
];
