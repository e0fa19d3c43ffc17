// The compliance officer's view of their region: requests due, incidents with countdowns, each tenant's
// audit status (last verification and export) and consent coverage per purpose. Home shows all four.
import { h, card, badge, countdown } from "./ui.js";
import { when, day, stackTable, barList, shareBar, busy, tenantsOf, tenantName, roleName } from "./officer-ui.js";

const TYPES = { access: "Access", erasure: "Erasure", rectification: "Rectification", restriction: "Restriction",
  portability: "Portability", objection: "Objection" };

function urgencyBadge(dueAt) {
  if (!dueAt) return badge("No deadline", "");
  const ms = Date.parse(dueAt) - Date.now();
  return ms < 0 ? badge("Overdue", "overdue") : ms < 864e5 ? badge("Due soon", "due_soon") : badge("Running", "ok");
}

async function requestsCard({ api }) {
  const body = h("div");
  const section = card("Requests due", body);
  busy(body, "Loading the region's requests…", async () => {
    const [page, tenants] = await Promise.all([api.call("GET", "/v1/requests?overdue=true&due_soon=true&due_within_days=7"),
      tenantsOf(api)]);
    const overdue = page.items.filter((r) => r.urgency === "overdue").length;
    const soon = page.items.length - overdue;
    body.replaceChildren(
      h("p", { "data-testid": "requests-summary" }, `${overdue} overdue, ${soon} due within ${page.due_soon_days} days, ` +
        `across ${new Set(page.items.map((r) => r.tenant_id)).size} tenant(s) · as of ${when(page.as_of)}`),
      barList(`Open requests: ${overdue} overdue, ${soon} due within ${page.due_soon_days} days`, [
        { label: "Overdue", value: overdue, color: "#a4161a" }, { label: "Due soon", value: soon, color: "#b07000" }]),
      stackTable("Open requests past or near their due date, most urgent first", ["Status", "Tenant", "Type", "Received", "Due", "Time left"],
        [...page.items].sort((a, b) => a.due_at.localeCompare(b.due_at)).map((r) => [
          badge(r.urgency === "overdue" ? "Overdue" : "Due soon", r.urgency), tenantName(tenants, r.tenant_id),
          TYPES[r.type] || r.type, day(r.received_at), when(r.due_at), countdown(r.due_at)]),
        "No open request is overdue or due soon."),
      h("p", { class: "muted" }, "No learner is named: learners' names are shown only to the school's own staff."));
  }).catch((error) => body.replaceChildren(h("p", { class: "error", role: "alert" }, error.message)));
  return section;
}

function deadlines(incident) {
  return stackTable("Notification deadlines", ["Notify", "Law", "Due", "Time left", "Rule"],
    incident.deadlines.map((d) => [`${d.party}: ${d.action}`, d.state ? `${d.jurisdiction} · ${d.state}` : d.jurisdiction,
      when(d.due_at), h("span", {}, urgencyBadge(d.due_at), " ", countdown(d.due_at)),
      `${d.applied_rule || d.jurisdiction}: ${d.rule}`]));
}

async function incidentsCard({ api }) {
  const body = h("div");
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "More incidents");
  const section = card("Incidents", body, more);
  let cursor = null;
  const shown = [];
  async function load() {
    const [page, tenants] = await Promise.all([
      api.call("GET", "/v1/incidents?limit=10" + (cursor ? `&cursor=${encodeURIComponent(cursor)}` : "")), tenantsOf(api)]);
    shown.push(...page.items);
    cursor = page.next_cursor;
    more.hidden = !cursor;
    const running = shown.filter((i) => i.deadlines.some((d) => d.due_at && Date.parse(d.due_at) > Date.now())).length;
    body.replaceChildren(h("p", {}, `${shown.length} incident(s) recorded in ${api.session.region}; ${running} with a deadline still running.`),
      ...shown.map((incident) => h("article", { class: "incident" },
        h("h3", {}, `Discovered ${when(incident.discovered_at)}`),
        h("p", { class: "muted" }, `Tenants: ${incident.tenants.map((t) => tenantName(tenants, t)).join(", ") || "—"}` +
          ` · affected learners here: ${incident.affected_learners}` +
          (incident.unavailable_tenants ? ` · ${incident.unavailable_tenants} tenant(s) in another region` : "")),
        deadlines(incident))));
  }
  more.addEventListener("click", () => busy(body, "Loading more incidents…", load));
  busy(body, "Loading the region's incidents…", load)
    .catch((error) => body.replaceChildren(h("p", { class: "error", role: "alert" }, error.message)));
  return section;
}

function verification(v) {
  if (!v) return badge("Never verified", "due_soon");
  return h("span", {}, badge(v.valid ? "Valid" : "Invalid", v.valid ? "valid" : "invalid"), ` ${when(v.at)}`);
}

function exported(e) {
  if (!e) return "Never exported";
  return `${when(e.at)} (${e.kind === "bucket" ? "to the export bucket" : "downloaded"}, ${roleName(e.by_role)})`;
}

async function trailsCard({ api }) {
  const body = h("div");
  const section = card("Audit trails", body);
  busy(body, "Loading each tenant's audit status…", async () => {
    const tenants = [...(await tenantsOf(api)).values()].filter((t) => t.state !== "offboarded");
    const statuses = await Promise.all(tenants.map((t) => api.call("GET", `/v1/tenants/${t.tenant_id}/audit/status`)
      .catch((error) => ({ error }))));
    const never = statuses.filter((s) => !s.error && !s.last_verification).length;
    body.replaceChildren(
      h("p", {}, `${tenants.length} tenant(s) homed in ${api.session.region}; ${never} never verified.`),
      stackTable("Each tenant's trail: open one to filter, verify, export or prove an event",
        ["Tenant", "Law", "Events", "Last verification", "Last export"],
        tenants.map((t, i) => {
          const s = statuses[i];
          if (s.error) return [h("a", { href: `#/audit/${t.tenant_id}` }, t.name), t.jurisdiction, "—", s.error.message, "—"];
          return [h("a", { href: `#/audit/${t.tenant_id}` }, t.name), t.jurisdiction, s.events.toLocaleString(),
            verification(s.last_verification), exported(s.last_export)];
        }), "No tenant is homed in this region."));
  }).catch((error) => body.replaceChildren(h("p", { class: "error", role: "alert" }, error.message)));
  return section;
}

function coverageTable(coverage) {
  if (!coverage.learners) return h("p", {}, `${coverage.name}: no learner enrolled yet.`);
  return stackTable(`${coverage.name}: ${coverage.learners.toLocaleString()} learner(s) as of ${when(coverage.as_of)}`,
    ["Purpose", "Basis", "Consent granted", "Not granted", "No decision"],
    coverage.purposes.map((p) => {
      const label = `${p.purpose}: ${p.granted} of ${coverage.learners} learners with consent granted`;
      return [p.purpose, p.requires_consent ? "Consent" : `${p.lawful_basis.replace(/_/g, " ")} (consent not needed)`,
        h("span", { class: "share-cell" }, shareBar(p.granted, coverage.learners, label), ` ${p.granted} of ${coverage.learners}`),
        String(p.not_granted), String(p.no_decision)];
    }));
}

async function consentCard({ api }) {
  const body = h("div");
  const section = card("Consent coverage", body, h("p", { class: "muted" },
    "Counts of learners per purpose: no learner is named. Each look is recorded in the tenant's audit trail."));
  busy(body, "Counting consent decisions…", async () => {
    const tenants = [...(await tenantsOf(api)).values()].filter((t) => t.state !== "offboarded");
    const all = await Promise.all(tenants.map((t) => api.call("GET", `/v1/tenants/${t.tenant_id}/consents/coverage`)
      .catch((error) => ({ name: t.name, error }))));
    body.replaceChildren(...(all.length ? all.map((c) => c.error ? h("p", { class: "error" }, `${c.name}: ${c.error.message}`)
      : coverageTable(c)) : [h("p", {}, "No tenant is homed in this region.")]));
  }).catch((error) => body.replaceChildren(h("p", { class: "error", role: "alert" }, error.message)));
  return section;
}

const CARDS = { requests: requestsCard, incidents: incidentsCard, trails: trailsCard, consent: consentCard };

export async function home(main, ctx) {
  main.append(h("p", { class: "muted" }, `Your scope: the tenants homed in ${ctx.api.session.region}. Dates are in your time zone.`),
    ...(await Promise.all(Object.values(CARDS).map((make) => make(ctx)))));
}

export function single(name) {
  return async (main, ctx) => { main.append(await CARDS[name](ctx)); };
}
