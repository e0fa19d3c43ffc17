// Screens of platform and regional admins: tenants, requests, legal holds, incidents, retention.
import { h, card, table, field, say, errorText, formValues, badge, countdown } from "./ui.js";

const JURISDICTIONS = ["PH", "AU", "UK", "US"];

const SECTORS = { government: "Government (public sector)", non_government: "Non-government" };

// The state field follows the jurisdiction: its suggestions are the state overlays the API lists for it
// (GET /v1/jurisdictions/{code}), loaded when the jurisdiction is chosen; any other state of the law pack is
// accepted too (its national rules apply), and the API's 422 names a state it does not know.
function stateChoice(api) {
  const packs = new Map();
  const pack = (code) => {
    if (!packs.has(code)) packs.set(code, api.call("GET", `/v1/jurisdictions/${code}`).catch((error) => {
      packs.delete(code);
      throw error;
    }));
    return packs.get(code);
  };
  const list = h("datalist", { id: "onboard-states" });
  const hint = h("p", { id: "onboard-state-hint", class: "muted hint" });
  const sectorHint = h("p", { id: "onboard-sector-hint", class: "muted hint", hidden: true });
  const input = h("input", { name: "state", list: "onboard-states", autocomplete: "off", maxlength: "3",
                             "aria-describedby": "onboard-state-hint", disabled: true });
  const sector = h("select", { name: "sector", "aria-describedby": "onboard-sector-hint" },
    h("option", { value: "" }, "Not declared"),
    Object.entries(SECTORS).map(([value, text]) => h("option", { value }, text)));
  async function show(code) {
    input.disabled = true;
    list.replaceChildren();
    hint.textContent = `Loading the state rules of ${code}…`;
    sectorHint.textContent = "";
    sectorHint.hidden = true;
    let view;
    try { view = await pack(code); } catch (error) {
      hint.textContent = `The states of ${code} could not be loaded (${error.message}); type a state code if it has one.`;
      input.disabled = false;
      return;
    }
    if (input.form && input.form.elements.jurisdiction.value !== code) return;  // another choice since
    const overlays = Object.entries(view.overlays || {}).sort(([a], [b]) => a.localeCompare(b));
    list.replaceChildren(...overlays.map(([state, overlay]) => h("option", { value: state }, overlay.name)));
    input.disabled = !overlays.length && !(view.states || []).length;
    if (input.disabled) input.value = "";
    hint.textContent = overlays.length
      ? `States with their own rules in ${code}: ${overlays.map(([state, o]) => `${o.name.split(" (")[0]} (${state})`).join(", ")}. ` +
        `Another state of ${code} is accepted and keeps the national rules.`
      : `${code} has no state rules: leave this empty.`;
    const bySector = overlays.filter(([, o]) => (o.sectors || []).length);
    sectorHint.textContent = bySector.length
      ? "State rules that bind only some sectors: " +
        bySector.map(([state, o]) => `${state}, ${o.sectors.map((x) => (SECTORS[x] || x).toLowerCase()).join(" or ")}`).join("; ") + "."
      : "";
    sectorHint.hidden = !bySector.length;
  }
  const fields = [field("State or territory (optional)", input), hint, list,
                  field("Sector (optional)", sector), sectorHint];
  return { fields, show };
}

function markInvalid(form, error) {
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  for (const { field: name } of (error && error.fields) || []) {
    const input = form.elements[name];
    if (input && input.setAttribute) input.setAttribute("aria-invalid", "true");
  }
}

async function tenants(main, { api }) {
  const list = h("div");
  let cursor = null;
  const more = h("button", { type: "button", class: "secondary", hidden: true, onclick: () => load() }, "More tenants");
  const rows = [];
  async function load() {
    const page = await api.call("GET", "/v1/tenants?limit=25" + (cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""));
    rows.push(...page.items.map((t) => [h("a", { href: `#/holds/${t.tenant_id}` }, t.name), t.tenant_id, t.kind,
                                        t.jurisdiction, t.state || "—", SECTORS[t.sector] || "—", t.home_region,
                                        t.created_at.slice(0, 10)]));
    cursor = page.next_cursor;
    more.hidden = !cursor;
    list.replaceChildren(table(`Tenants homed in ${api.session.region}`,
      ["Name", "Tenant id", "Kind", "Jurisdiction", "State", "Sector", "Home region", "Onboarded"], rows));
  }
  const problem = h("div");
  const states = stateChoice(api);
  const jurisdiction = h("select", { name: "jurisdiction", onchange: () => states.show(jurisdiction.value) },
    JURISDICTIONS.map((j) => h("option", { value: j }, j)));
  const form = h("form", { "aria-label": "Onboard a tenant" },
    field("Name", h("input", { name: "name", required: true, maxlength: "200" })),
    field("Kind", h("select", { name: "kind" }, h("option", { value: "school" }, "School"),
                                           h("option", { value: "review_center" }, "Review centre"))),
    field("Jurisdiction", jurisdiction),
    ...states.fields,
    h("button", { type: "submit" }, "Onboard tenant"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.replaceChildren();
    try {
      const body = formValues(form);
      const region = { PH: "ap-southeast-1", AU: "ap-southeast-2", UK: "eu-west-2", US: "us-east-1" }[body.jurisdiction];
      const tenant = await api.call("POST", "/v1/tenants", body, { region });
      markInvalid(form, null);
      const where = `home region ${tenant.home_region}` + (tenant.state ? `, state ${tenant.state}` : "");
      // announced once, next to the form (no toast over the table it refreshes)
      problem.replaceChildren(h("p", { role: "status" }, `Onboarded ${tenant.name}: ${tenant.tenant_id}, ${where}.`));
      rows.length = 0; cursor = null; await load();
    } catch (error) { markInvalid(form, error); problem.replaceChildren(errorText(error)); }
  });
  main.append(card("Onboard", form, problem), card("Tenants", list, more));
  await Promise.all([load(), states.show(jurisdiction.value)]);
}

function shortTime(at) {
  return at ? at.slice(0, 16).replace("T", " ") + " UTC" : "—";
}

async function requests(main, { api }) {
  const page = await api.call("GET", "/v1/requests?overdue=true&due_soon=true");
  main.append(card("Data requests due", h("p", { class: "muted" },
    `Open requests of ${page.region} overdue or due within ${page.due_soon_days} days, as of ${page.as_of}.`),
    table("Overdue in red, due soon in amber", ["Urgency", "Countdown", "Tenant", "Request", "Type", "Received", "Due"],
      page.items.map((r) => [badge(r.urgency === "overdue" ? "Overdue" : "Due soon", r.urgency), countdown(r.due_at),
                             r.tenant_id, r.request_id, r.type, shortTime(r.received_at), shortTime(r.due_at)]))));
}

async function holds(main, { api, args }) {
  const problem = h("div");
  const tenantInput = h("input", { name: "tenant_id", required: true, value: args[0] || "", pattern: "tnt_[a-z0-9]+" });
  const pick = h("form", { class: "inline", "aria-label": "Choose a tenant" }, field("Tenant id", tenantInput),
    h("button", { type: "submit" }, "Show holds"));
  pick.addEventListener("submit", (event) => { event.preventDefault(); location.hash = `#/holds/${tenantInput.value}`; });
  main.append(card("Tenant", pick), problem);
  const tenantId = args[0];
  if (!tenantId) return;
  const list = await api.tenantCall(tenantId, "GET", `/v1/tenants/${tenantId}/legal-holds`);
  const place = h("form", { "aria-label": "Place a legal hold" },
    field("Reason", h("input", { name: "reason", required: true, maxlength: "1000" })),
    field("Learner id (empty: the whole tenant)", h("input", { name: "learner_id" })),
    h("button", { type: "submit" }, "Place hold"));
  place.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api.tenantCall(tenantId, "POST", `/v1/tenants/${tenantId}/legal-holds`, formValues(place), { idempotent: true });
      say("Hold placed"); location.reload();
    } catch (error) { problem.replaceChildren(errorText(error)); }
  });
  main.append(card("Legal holds", table(`Holds of ${tenantId}`, ["Hold", "Scope", "Reason", "Placed", "Lifted"],
    list.items.map((x) => [x.hold_id, x.learner_id || "whole tenant", x.reason, x.placed_at || x.created_at || "", x.lifted_at || "in force"]))),
    card("Place a hold", place));
}

const DAY = 864e5;

// overdue (red) once past, due soon (amber) within 24 hours, plain otherwise; no deadline: as soon as practicable
function deadlineBadge(dueAt) {
  if (!dueAt) return badge(countdown(dueAt), "due_soon");
  const left = Date.parse(dueAt) - Date.now();
  return badge(countdown(dueAt), left < 0 ? "overdue" : left < DAY ? "due_soon" : "ok");
}

// the rule that set the deadline: a state overlay's (<nation>-<state>) when stricter than the national one
function appliedRule(d) {
  const applied = d.applied_rule || d.jurisdiction;  // incidents recorded before F12 name no applied rule
  return h("span", {}, h("strong", {}, applied), d.source ? ` · ${d.source}` : "");
}

function deadlineTable(incident) {
  return table(`Deadlines of ${incident.incident_id}`,
    ["Jurisdiction", "Party", "Action", "Due", "Countdown", "Applied rule", "Rule"],
    incident.deadlines.map((d) => [d.state ? `${d.jurisdiction} · ${d.state}` : d.jurisdiction, d.party, d.action,
                                   d.due_at || "—", deadlineBadge(d.due_at), appliedRule(d), d.rule]));
}

async function incidents(main, { api }) {
  const out = h("div");
  const list = h("div");
  let cursor = null;
  const shown = [];
  const more = h("button", { type: "button", class: "secondary", hidden: true, onclick: () => load() }, "More incidents");
  async function load() {
    const page = await api.call("GET", "/v1/incidents?limit=10" + (cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""));
    shown.push(...page.items);
    cursor = page.next_cursor;
    more.hidden = !cursor;
    list.replaceChildren(...(shown.length ? shown.map((incident) => h("article", { class: "incident" },
      h("h3", {}, `${incident.incident_id} · discovered ${incident.discovered_at}`),
      h("p", { class: "muted" }, `Tenants: ${incident.tenants.join(", ")} · affected learners here: ${incident.affected_learners}` +
        (incident.unavailable_tenants ? ` · ${incident.unavailable_tenants} tenant(s) homed in another region` : "")),
      deadlineTable(incident))) : [h("p", {}, "No incident recorded in this region.")]));
  }
  const form = h("form", { "aria-label": "Record an incident" },
    field("Discovered at (UTC)", h("input", { name: "discovered_at", type: "datetime-local", required: true })),
    field("Tenant ids (comma separated)", h("input", { name: "tenant_ids", required: true })),
    field("Summary", h("input", { name: "summary", required: true, maxlength: "5000" })),
    h("button", { type: "submit" }, "Record incident"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = formValues(form);
    try {
      const incident = await api.call("POST", "/v1/incidents", { discovered_at: values.discovered_at + ":00Z",
        tenant_ids: values.tenant_ids.split(",").map((s) => s.trim()).filter(Boolean), summary: values.summary },
        { idempotent: true });
      out.replaceChildren(h("p", { role: "status" }, `Recorded ${incident.incident_id}.`), deadlineTable(incident));
      shown.length = 0; cursor = null; await load();
    } catch (error) { out.replaceChildren(errorText(error)); }
  });
  main.append(card("Incidents of this region", h("p", { class: "muted" },
    "Countdowns to each regulator's and each individual notification deadline: overdue in red, due within a day in amber."),
    list, more), card("Record a suspected breach", form, out));
  await load();
}

async function retention(main, { api }) {
  const out = h("div");
  const run = async (dry) => {
    try {
      const report = await api.call("POST", `/v1/retention/sweep?dry_run=${dry}`);
      out.replaceChildren(h("pre", {}, JSON.stringify(report, null, 2)));
      realRun.disabled = !dry;
    } catch (error) { out.replaceChildren(errorText(error)); }
  };
  const realRun = h("button", { type: "button", class: "danger", disabled: true,
    onclick: () => confirm("Erase every expired learner record of this region now? This cannot be undone.") && run(false) },
    "Run the sweep (erases)");
  main.append(card("Retention sweep", h("p", {}, "Run a dry run first: it reports what would be erased."),
    h("p", {}, h("button", { type: "button", onclick: () => run(true) }, "Dry run"), " ", realRun), out));
}

export const adminScreens = [
  { id: "tenants", title: "Tenants", render: tenants },
  { id: "requests", title: "Requests", render: requests },
  { id: "holds", title: "Legal holds", render: holds },
  { id: "incidents", title: "Incidents", render: incidents },
  { id: "retention", title: "Retention", render: retention },
];
