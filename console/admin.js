// Screens of platform and regional admins: tenants and onboarding, requests, retention; legal holds,
// incidents and offboarding live in holds.js, incidents.js and offboard.js.
import { h, card, table, field, errorText, formValues, badge, countdown, when, day, loading, tenantsOf } from "./ui.js";
import { holds } from "./holds.js";
import { incidents } from "./incidents.js";
import { offboard } from "./offboard.js";

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

// the regions whose tenants the caller sees: a platform admin every region of the console's config
export function regionsOf(session, config) {
  return session.role === "platform_admin" ? Object.keys(config.pools) : [session.region];
}

const HOMES = { PH: "ap-southeast-1", AU: "ap-southeast-2", UK: "eu-west-2", US: "us-east-1" };

async function tenants(main, { api, session, config }) {
  const list = h("div");
  const known = new Map();  // region -> its tenants (for the duplicate-name warning)
  let loads = 0;  // the first load may answer after the one an onboarding started: only the newest draws
  async function load() {
    const mine = ++loads;
    const regions = regionsOf(session, config);
    const all = await loading(list, tenantsOf(api, regions), "Loading the tenants…");
    if (mine !== loads) return;
    known.clear();
    for (const t of all) known.set(t.home_region, [...(known.get(t.home_region) || []), t]);
    const caption = regions.length > 1 ? `Tenants of every region (${all.length})` : `Tenants homed in ${regions[0]} (${all.length})`;
    list.replaceChildren(table(caption,
      ["Name", "Tenant id", "Kind", "Jurisdiction", "State", "Sector", "Home region", "Onboarded"],
      all.map((t) => [h("a", { href: `#/holds/${t.tenant_id}` }, t.name), t.tenant_id, t.kind === "review_center" ? "Review centre" : "School",
                      t.jurisdiction, t.state || "—", SECTORS[t.sector] || "—", t.home_region, day(t.created_at)])));
  }
  const problem = h("div");
  const warning = h("p", { id: "onboard-duplicate", class: "warning", role: "status" });
  const states = stateChoice(api);
  const nameInput = h("input", { name: "name", required: true, maxlength: "200", "aria-describedby": "onboard-duplicate" });
  const jurisdiction = h("select", { name: "jurisdiction", onchange: () => { states.show(jurisdiction.value); duplicate(); } },
    JURISDICTIONS.map((j) => h("option", { value: j }, j)));
  const submit = h("button", { type: "submit" }, "Onboard tenant");
  const form = h("form", { "aria-label": "Onboard a tenant" },
    field("Name", nameInput),
    warning,
    field("Kind", h("select", { name: "kind" }, h("option", { value: "school" }, "School"),
                                           h("option", { value: "review_center" }, "Review centre"))),
    field("Jurisdiction", jurisdiction),
    ...states.fields,
    submit);
  // a tenant of the same name (case and spaces aside) already homed in the chosen jurisdiction's region
  function duplicate() {
    const name = nameInput.value.trim().toLowerCase().replace(/\s+/g, " ");
    const region = HOMES[jurisdiction.value];
    const same = name ? (known.get(region) || []).find((t) => t.name.trim().toLowerCase().replace(/\s+/g, " ") === name) : null;
    warning.textContent = same ? `A tenant named “${same.name}” is already homed in ${region} (onboarded ${day(same.created_at)}). ` +
      "Check it is not the same school; submit again to onboard another one." : "";
    form.dataset.duplicate = same ? "1" : "";
    submit.textContent = same ? "Onboard another tenant of this name" : "Onboard tenant";
    return same;
  }
  nameInput.addEventListener("input", duplicate);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.replaceChildren();
    if (duplicate() && form.dataset.warned !== nameInput.value) {  // warned once before it is submitted
      form.dataset.warned = nameInput.value;
      nameInput.focus();
      return;
    }
    try {
      const body = formValues(form);
      const tenant = await loading(problem, api.call("POST", "/v1/tenants", body, { region: HOMES[body.jurisdiction] }), "Onboarding…");
      markInvalid(form, null);
      const where = `home region ${tenant.home_region}` + (tenant.state ? `, state ${tenant.state}` : "");
      // announced once, next to the form (no toast over the table it refreshes)
      problem.replaceChildren(h("p", { role: "status" }, `Onboarded ${tenant.name}: ${tenant.tenant_id}, ${where}.`));
      form.reset();
      delete form.dataset.warned;
      warning.textContent = "";
      submit.textContent = "Onboard tenant";
      states.show(jurisdiction.value);
      await load();
    } catch (error) { markInvalid(form, error); problem.replaceChildren(errorText(error)); }
  });
  main.append(card("Onboard", form, problem), card("Tenants", list));
  await Promise.all([load(), states.show(jurisdiction.value)]);
}

// a map tenant id -> name of the regions' tenants (one list call per region)
export async function tenantNames(api, regions) {
  return new Map((await tenantsOf(api, regions)).map((t) => [t.tenant_id, t.name]));
}

async function requests(main, { api, session, config }) {
  const [page, names] = await Promise.all([api.call("GET", "/v1/requests?overdue=true&due_soon=true"),
                                           tenantNames(api, regionsOf(session, config))]);
  const overdue = page.items.filter((r) => r.urgency === "overdue").length;
  main.append(card("Data requests due", h("p", { class: "muted" },
    `Open requests of ${page.region} overdue (${overdue}) or due within ${page.due_soon_days} days ` +
    `(${page.items.length - overdue}), as of ${when(page.as_of)}. Times in ${zoneLabel()}.`),
    table("Overdue in red, due soon in amber", ["Urgency", "Countdown", "Tenant", "Kind", "Received", "Due", "Reference"],
      page.items.map((r) => [badge(r.urgency === "overdue" ? "Overdue" : "Due soon", r.urgency), countdown(r.due_at),
                             names.get(r.tenant_id) || "Unknown tenant", r.type, when(r.received_at), when(r.due_at),
                             h("span", { class: "id" }, `…${r.request_id.slice(-6)}`)])),
    h("p", { class: "muted" }, "No learner is named here: learners' names are shown only to the school's own staff. " +
      "The school's admin opens the request on their Requests screen.")));
}

function zoneLabel() {
  return `your time zone (${Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"})`;
}

const SWEEP_COLUMNS = ["Tenant", "Jurisdiction", "Examined", "To erase", "Held back", "Records to purge", "Failed", "Note"];

function sweepTable(report, names, dry) {
  return table(dry ? `Dry run of ${report.region} as of ${when(report.swept_at)}: nothing was changed`
                   : `Sweep of ${report.region} at ${when(report.swept_at)}`,
    dry ? SWEEP_COLUMNS : SWEEP_COLUMNS.map((c) => (c === "To erase" ? "Erased" : c === "Records to purge" ? "Records purged" : c)),
    report.tenants.map((t) => [names.get(t.tenant_id) || "Unknown tenant", t.jurisdiction, String(t.examined),
      String(t.shred.length), String(t.held.length) + (t.tenant_hold ? " (whole tenant held)" : ""),
      String(dry ? t.purge.length : t.records_purged), String(t.failed.length),
      t.error ? t.error : t.incomplete ? "not finished: run again" : "—"]));
}

async function retention(main, { api, session, config }) {
  const out = h("div");
  const confirmBox = h("div");
  const regions = regionsOf(session, config);
  const region = h("select", { name: "region" }, regions.map((r) => h("option", { value: r, selected: r === session.region }, r)));
  let names = new Map();
  const run = async (dry) => {
    out.replaceChildren();
    confirmBox.replaceChildren();
    try {
      const [report, known] = await loading(out, Promise.all([
        api.call("POST", `/v1/retention/sweep?dry_run=${dry}`, undefined, { region: region.value }),
        tenantNames(api, [region.value])]), dry ? "Running the dry run…" : "Sweeping…");
      names = known;
      const t = report.totals;
      out.replaceChildren(h("p", { role: "status" }, dry
        ? `Dry run: ${t.shred} learner record(s) would be erased and ${t.purge} purged across ${t.tenants} tenant(s); ${t.held} held back by legal holds.`
        : `Sweep done: ${t.shred} learner record(s) erased, ${t.records_purged} record(s) purged; ${t.held} held back; ${t.failed} failed.`),
        sweepTable(report, names, dry));
      if (dry) {
        confirmBox.replaceChildren(h("p", {}, `Erase the ${t.shred} learner record(s) listed above for good? This cannot be undone.`),
          h("button", { type: "button", class: "danger", onclick: () => run(false) }, "Run the sweep (erases)"));
      }
    } catch (error) { out.replaceChildren(errorText(error)); }
  };
  main.append(card("Retention sweep", h("p", {}, "A dry run lists, per tenant, what the sweep would erase; nothing changes until you confirm."),
    regions.length > 1 ? h("form", { class: "inline", "aria-label": "Region to sweep" }, field("Region", region)) : "",
    h("p", {}, h("button", { type: "button", onclick: () => run(true) }, "Dry run")), out, confirmBox));
}

export const adminScreens = [
  { id: "tenants", title: "Tenants", render: tenants },
  { id: "requests", title: "Requests", render: requests, roles: ["regional_admin"] },
  { id: "holds", title: "Legal holds", render: holds },
  { id: "incidents", title: "Incidents", render: incidents },
  { id: "retention", title: "Retention", render: retention },
  { id: "offboard", title: "Offboarding", render: offboard, roles: ["platform_admin"] },
];
