// Legal holds: pick a tenant by name, see its holds, place one on the whole tenant or on a learner picked
// from the tenant's learners (paged list or exact search), lift one with a reason.
import { h, card, table, field, errorText, formValues, when, loading, tenantsOf } from "./ui.js";

const CATEGORIES = { litigation: "Litigation", regulatory_investigation: "Regulatory investigation",
  law_enforcement: "Law enforcement", data_subject_dispute: "Data-subject dispute",
  internal_investigation: "Internal investigation", other: "Other" };

function regionsOf(session, config) {
  return session.role === "platform_admin" ? Object.keys(config.pools) : [session.region];
}

function fullName(learner) {
  return [learner.given_name, learner.family_name].filter(Boolean).join(" ");
}

// the learner picker: the tenant's learners a page at a time, or found by exact e-mail; picking one reads it
// (one audited read) so that the admin sees whose record the hold will cover
function learnerPicker(api, tenantId, onPick) {
  const chosen = h("p", { class: "muted", role: "status" }, "No learner chosen: the hold will cover the whole tenant.");
  const results = h("div");
  let picked = null;
  let cursor = null;
  const rows = [];
  async function pick(learnerId) {
    try {
      const learner = await loading(chosen, api.tenantCall(tenantId, "GET", `/v1/tenants/${tenantId}/learners/${learnerId}`));
      picked = learner;
      chosen.textContent = `Chosen: ${fullName(learner) || "a learner"} (${learner.status || "active"}, enrolled ${when(learner.created_at)}).`;
      onPick(learner);
    } catch (error) { chosen.replaceChildren(errorText(error)); }
  }
  const choose = (l) => h("button", { type: "button", class: "secondary", onclick: () => pick(l.learner_id),
    "aria-label": `Choose ${fullName(l) || "learner " + l.learner_id.slice(-6)}` }, "Choose");
  function show(items, caption) {
    results.replaceChildren(table(caption, ["Learner", "Status", "Enrolled", ""],
      items.map((l) => [fullName(l) || h("span", { class: "id" }, l.learner_id), l.status || "active", when(l.created_at), choose(l)])));
  }
  const more = h("button", { type: "button", class: "secondary", hidden: true, onclick: () => browse() }, "More learners");
  async function browse() {
    const page = await loading(results, api.tenantCall(tenantId, "GET", `/v1/tenants/${tenantId}/learners?limit=25` +
      (cursor ? `&cursor=${encodeURIComponent(cursor)}` : "")));
    rows.push(...page.items);
    cursor = page.next_cursor;
    more.hidden = !cursor;
    show(rows, `Learners of this tenant (${rows.length} shown)`);
  }
  const email = h("input", { name: "email", type: "email", autocomplete: "off" });
  const search = h("form", { class: "inline", "aria-label": "Find a learner by e-mail" }, field("Learner's e-mail", email),
    h("button", { type: "submit" }, "Find learner"),
    h("button", { type: "button", class: "secondary", onclick: () => { rows.length = 0; cursor = null; browse(); } }, "Browse learners"));
  search.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const found = await loading(results, api.tenantCall(tenantId, "POST", `/v1/tenants/${tenantId}/learners/search`, { email: email.value }));
      more.hidden = true;
      show(found.items, found.items.length ? "Learners with this e-mail" : "No learner has this e-mail");
    } catch (error) { results.replaceChildren(errorText(error)); }
  });
  return { nodes: [search, results, more, chosen], learner: () => picked,
           clear: () => { picked = null; chosen.textContent = "No learner chosen: the hold will cover the whole tenant."; } };
}

function liftForm(api, tenantId, hold, done) {
  const problem = h("div");
  const reason = h("input", { name: "reason", required: true, maxlength: "1000" });
  const form = h("form", { class: "lift", "aria-label": "Lift this hold" }, field("Reason for lifting", reason),
    h("button", { type: "submit", class: "danger" }, "Lift hold"), problem);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await loading(problem, api.tenantCall(tenantId, "DELETE", `/v1/tenants/${tenantId}/legal-holds/${hold.hold_id}`,
        { reason: reason.value }));
      done(`Hold lifted (${CATEGORIES[hold.category] || hold.category}).`);
    } catch (error) { problem.replaceChildren(errorText(error)); }
  });
  return form;
}

export async function holds(main, { api, session, config, args }) {
  const all = await tenantsOf(api, regionsOf(session, config));
  const tenantId = args[0] && all.some((t) => t.tenant_id === args[0]) ? args[0] : "";
  const select = h("select", { name: "tenant", required: true, "aria-label": "Tenant" },
    h("option", { value: "" }, "Choose a tenant"),
    all.map((t) => h("option", { value: t.tenant_id, selected: t.tenant_id === tenantId },
      all.length && regionsOf(session, config).length > 1 ? `${t.name} (${t.jurisdiction}, ${t.home_region})` : `${t.name} (${t.jurisdiction})`)));
  const pick = h("form", { class: "inline", "aria-label": "Choose a tenant" }, field("Tenant", select),
    h("button", { type: "submit" }, "Show holds"));
  pick.addEventListener("submit", (event) => { event.preventDefault(); if (select.value) location.hash = `#/holds/${select.value}`; });
  main.append(card("Choose a tenant", pick));
  if (!tenantId) return;
  const tenant = all.find((t) => t.tenant_id === tenantId);
  const status = h("div");
  const listCard = h("div");
  const picker = learnerPicker(api, tenantId, () => {});
  async function load(message) {
    const list = await loading(listCard, api.tenantCall(tenantId, "GET", `/v1/tenants/${tenantId}/legal-holds`));
    const active = list.items.filter((x) => x.active);
    // whose record a learner's hold covers: read where the role may (regional admins), else "One learner"
    const held = [...new Set(list.items.map((x) => x.learner_id).filter(Boolean))];
    const names = new Map(session.role === "regional_admin" ? await Promise.all(held.map((id) =>
      api.tenantCall(tenantId, "GET", `/v1/tenants/${tenantId}/learners/${id}`)
        .then((l) => [id, fullName(l)], () => [id, "an erased learner"]))) : []);
    listCard.replaceChildren(
      message ? h("p", { role: "status" }, message) : "",
      h("p", { class: "muted" }, `${active.length} hold(s) in force, ${list.items.length - active.length} lifted.`),
      table(`Legal holds of ${tenant.name}`, ["Scope", "Category", "Reason", "Placed", "Status", ""],
        list.items.map((x) => [x.scope === "learner" ? (names.get(x.learner_id) ? `One learner: ${names.get(x.learner_id)}` : "One learner") : "Whole tenant", CATEGORIES[x.category] || x.category,
          x.reason, when(x.placed_at),
          x.active ? "In force" : `Lifted ${when(x.lifted_at)}` + (x.lift_reason ? `: ${x.lift_reason}` : ""),
          x.active ? liftForm(api, tenantId, x, (done) => load(done)) : ""])));
  }
  const place = h("form", { "aria-label": "Place a legal hold" },
    field("Reason", h("input", { name: "reason", required: true, maxlength: "1000" })),
    field("Category", h("select", { name: "category" }, Object.entries(CATEGORIES).map(([value, text]) =>
      h("option", { value, selected: value === "litigation" }, text)))),
    h("button", { type: "submit" }, "Place hold"));
  place.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.replaceChildren();
    const body = formValues(place);
    const learner = picker.learner();
    if (learner) body.learner_id = learner.learner_id;
    try {
      await loading(status, api.tenantCall(tenantId, "POST", `/v1/tenants/${tenantId}/legal-holds`, body, { idempotent: true }));
      place.reset();
      picker.clear();
      await load(learner ? `Hold placed on ${fullName(learner) || "the learner"}.` : `Hold placed on the whole of ${tenant.name}.`);
    } catch (error) { status.replaceChildren(errorText(error)); }
  });
  main.append(card("Legal holds", listCard),
    card("Place a hold", h("p", { class: "muted" }, `On ${tenant.name}: choose a learner, or none to hold the whole tenant.`),
      ...picker.nodes, place, status));
  await load();
}
