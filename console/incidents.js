// Incidents: every incident naming a tenant of the caller's scope (a platform admin: of every region, in one
// list), tenants by name, others counted; each deadline as a countdown, a date in the user's time zone and a
// bar of the time left (inline SVG with a text alternative); recording a suspected breach by picking tenants.
import { h, card, table, field, errorText, badge, countdown, when, zone, loading, svg, tenantsOf } from "./ui.js";

const DAY = 864e5;
const HOUR = 36e5;

function regionsOf(session, config) {
  return session.role === "platform_admin" ? Object.keys(config.pools) : [session.region];
}

// overdue (red) once past, due soon (amber) within 24 hours, plain otherwise; no deadline: as soon as practicable
function urgency(dueAt) {
  if (!dueAt) return "due_soon";
  const left = Date.parse(dueAt) - Date.now();
  return left < 0 ? "overdue" : left < DAY ? "due_soon" : "ok";
}

function deadlineBadge(dueAt) {
  return badge(countdown(dueAt), urgency(dueAt));
}

// the rule that set the deadline: a state overlay's (<nation>-<state>) when stricter than the national one
function appliedRule(d) {
  const applied = d.applied_rule || d.jurisdiction;  // incidents recorded before state rules name no applied rule
  return h("span", {}, h("strong", {}, applied), d.source ? ` · ${d.source}` : "");
}

function who(d) {
  return `${d.state ? `${d.jurisdiction} · ${d.state}` : d.jurisdiction} ${d.party} (${d.action})`;
}

function deadlineTable(incident) {
  return table(`Deadlines of the incident discovered ${when(incident.discovered_at)}`,
    ["Jurisdiction", "Party", "Action", "Due", "Countdown", "Applied rule", "Rule"],
    incident.deadlines.map((d) => [d.state ? `${d.jurisdiction} · ${d.state}` : d.jurisdiction, d.party, d.action,
                                   d.due_at ? when(d.due_at) : "as soon as practicable", deadlineBadge(d.due_at), appliedRule(d), d.rule]));
}

// one bar per dated deadline: its length the time left (or overdue, drawn leftwards in red) on a shared scale
// of up to a week each way (longer ones run to the edge); the countdown written next to each bar
export function timeLeftChart(incident) {
  const dated = incident.deadlines.filter((d) => d.due_at);
  if (!dated.length) return h("p", { class: "muted" }, "No deadline with a date: every notification is due as soon as practicable.");
  const hours = dated.map((d) => (Date.parse(d.due_at) - Date.now()) / HOUR);
  const span = Math.min(168, Math.max(24, ...hours.map((x) => Math.abs(x))));
  const label = 140; const half = 160; const row = 24; const mid = label + half;
  const alt = dated.map((d) => `${who(d)}: ${countdown(d.due_at)}`).join("; ");
  const id = `chart-${incident.incident_id}`;
  const bars = dated.map((d, i) => {
    const length = Math.max(2, Math.min(1, Math.abs(hours[i]) / span) * (half - 95));  // room for the text
    const x = hours[i] < 0 ? mid - length : mid;
    const y = i * row;
    return svg("g", { class: `bar ${urgency(d.due_at)}` },
      svg("text", { x: 0, y: y + 16, class: "axis" }, `${d.jurisdiction}${d.state ? "-" + d.state : ""} ${d.party} (${d.action})`),
      svg("rect", { x, y: y + 5, width: length, height: row - 10, rx: 2 }),
      svg("text", { x: hours[i] < 0 ? x - 4 : x + length + 4, y: y + 16, class: "value",
                    "text-anchor": hours[i] < 0 ? "end" : "start" }, countdown(d.due_at)));
  });
  return h("figure", { class: "chart" },
    svg("svg", { viewBox: `0 0 ${label + 2 * half} ${dated.length * row + 18}`, role: "img", "aria-labelledby": `${id}-t`,
                 class: "timeleft", preserveAspectRatio: "xMinYMin meet" },
      svg("title", { id: `${id}-t` }, `Time left per deadline: ${alt}`),
      svg("line", { x1: mid, x2: mid, y1: 0, y2: dated.length * row, class: "now" }),
      ...bars,
      svg("text", { x: mid, y: dated.length * row + 14, class: "axis", "text-anchor": "middle" }, "now"),
      svg("text", { x: label, y: dated.length * row + 14, class: "axis" }, "← overdue"),
      svg("text", { x: label + 2 * half, y: dated.length * row + 14, class: "axis", "text-anchor": "end" }, "time left →")),
    h("figcaption", { class: "muted" }, `Time left: ${alt}.`));
}

function tenantsLine(incident) {
  const names = incident.tenants.map((id) => (incident.tenant_names || {})[id] || "a tenant");
  const outside = incident.tenants_outside_scope || 0;
  const parts = [names.join(", ")];
  if (outside) parts.push(`${outside} tenant${outside > 1 ? "s" : ""} in another region`);
  return `Tenants: ${parts.filter(Boolean).join(" and ")} · affected learners: ${incident.affected_learners}`;
}

function article(incident) {
  const next = incident.deadlines.filter((d) => d.due_at).sort((a, b) => a.due_at.localeCompare(b.due_at))[0];
  return h("article", { class: "incident", "data-incident": incident.incident_id },
    h("h3", {}, `Discovered ${when(incident.discovered_at)}` + (incident.region ? ` · recorded in ${incident.region}` : "")),
    h("p", {}, tenantsLine(incident)),
    h("p", { class: "muted" }, `Recorded ${when(incident.recorded_at)} · ${incident.incident_id}` +
      (next ? ` · next deadline ${when(next.due_at)} (${countdown(next.due_at)})` : "")),
    timeLeftChart(incident), deadlineTable(incident));
}

export async function incidents(main, { api, session, config }) {
  const out = h("div");
  const list = h("div");
  const regions = regionsOf(session, config);
  const cursors = new Map(regions.map((r) => [r, null]));
  const shown = [];
  const more = h("button", { type: "button", class: "secondary", hidden: true, onclick: () => load() }, "More incidents");
  async function load() {
    const wanted = [...cursors.entries()].filter(([, c]) => c !== undefined);
    const pages = await loading(list, Promise.all(wanted.map(async ([region, cursor]) => {
      const page = await api.call("GET", "/v1/incidents?limit=10" + (cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""), undefined, { region });
      return [region, page];
    })), "Loading the incidents…");
    for (const [region, page] of pages) {
      shown.push(...page.items.map((i) => ({ ...i, region: regions.length > 1 ? region : null })));
      cursors.set(region, page.next_cursor || undefined);
    }
    shown.sort((a, b) => b.recorded_at.localeCompare(a.recorded_at));
    more.hidden = ![...cursors.values()].some((c) => c);
    list.replaceChildren(h("p", { class: "muted" }, `${shown.length} incident(s)` + (regions.length > 1 ? " across every region" : "") +
        `; times in ${zone()}.`),
      ...(shown.length ? shown.map(article) : [h("p", {}, "No incident names a tenant of yours.")]));
  }
  const all = await tenantsOf(api, regions);
  const picks = h("fieldset", { class: "tenants" }, h("legend", {}, "Tenants concerned"),
    all.map((t) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "tenant_ids", value: t.tenant_id }),
      regions.length > 1 ? `${t.name} (${t.home_region})` : t.name)));
  const discovered = h("input", { name: "discovered_at", type: "datetime-local", required: true });
  const form = h("form", { "aria-label": "Record an incident" },
    field(`Discovered at (${zone()})`, discovered), picks,
    field("Summary", h("input", { name: "summary", required: true, maxlength: "5000" })),
    h("button", { type: "submit" }, "Record incident"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const ids = [...form.querySelectorAll("input[name=tenant_ids]:checked")].map((x) => x.value);
    if (!ids.length) { out.replaceChildren(errorText(new Error("Choose at least one tenant."))); return; }
    const home = all.find((t) => t.tenant_id === ids[0]).home_region;
    try {
      const incident = await loading(out, api.call("POST", "/v1/incidents", { discovered_at: new Date(discovered.value).toISOString(),
        tenant_ids: ids, summary: form.elements.summary.value }, { idempotent: true, region: home }), "Recording…");
      const names = new Map(all.map((t) => [t.tenant_id, t.name]));
      out.replaceChildren(h("p", { role: "status" }, `Recorded the incident for ${ids.map((id) => names.get(id)).join(", ")}: ${incident.incident_id}.`),
        deadlineTable(incident));
      form.reset();
      shown.length = 0;
      for (const r of regions) cursors.set(r, null);
      await load();
    } catch (error) { out.replaceChildren(errorText(error)); }
  });
  main.append(card(regions.length > 1 ? "Incidents of every region" : "Incidents of this region", h("p", { class: "muted" },
    "Countdowns to each regulator's and each individual notification deadline: overdue in red, due within a day in amber."),
    list, more), card("Record a suspected breach", form, out));
  await load();
}
