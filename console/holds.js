// Legal holds: pick a tenant by name, see its holds, place one on the whole tenant or on a learner found by
// exact e-mail or family name (shown by enrolment date and the end of the id, not by name), lift one with a reason.
import { h, card, table, field, errorText, formValues, when, day, loading, tenantsOf } from "./ui.js";

const CATEGORIES = { litigation: "Litigation", regulatory_investigation: "Regulatory investigation",
  law_enforcement: "Law enforcement", data_subject_dispute: "Data-subject dispute",
  internal_investigation: "Internal investigation", other: "Other" };

function regionsOf(session, config) {
  return session.role === "platform_admin" ? Object.keys(config.pools) : [session.region];
}

// A learner as admins see them: no name (names are for the tenant's own screens), the end of the random id.
export function shortId(learnerId) {
  return `…${String(learnerId).slice(-6)}`;
}

// the learner picker: the admin types what the requester gave (an e-mail, or a family name with an optional
// given name), the API matches it exactly through its blind indexes; the match is shown by its enrolment date
// and the end of its id, never by name
function learnerPicker(api, tenantId, onPick) {
  const none = "No learner chosen: the hold will cover the whole tenant.";
  const chosen = h("p", { class: "muted", role: "status" }, none);
  const results = h("div", { "aria-live": "polite" });
  let picked = null;
  function pick(learner) {
    picked = learner;
    chosen.textContent = `Chosen: learner ${shortId(learner.learner_id)}, enrolled ${day(learner.created_at)}.`;
    onPick(learner);
  }
  const choose = (l) => h("button", { type: "button", class: "secondary", onclick: () => pick(l),
    "aria-label": `Choose learner ${shortId(l.learner_id)}` }, "Choose");
  const by = h("select", { name: "by" }, h("option", { value: "email" }, "E-mail"), h("option", { value: "name" }, "Family name"));
  const email = h("input", { name: "email", type: "email", autocomplete: "off" });
  const family = h("input", { name: "family_name", autocomplete: "off" });
  const given = h("input", { name: "given_name", autocomplete: "off" });
  const groups = { email: [field("Learner's e-mail", email)], name: [field("Family name", family), field("Given name (optional)", given)] };
  const show = () => { for (const [key, labels] of Object.entries(groups)) for (const label of labels) label.hidden = key !== by.value; };
  by.addEventListener("change", show);
  show();
  const search = h("form", { class: "inline", "aria-label": "Find a learner" }, field("Find by", by),
    ...groups.email, ...groups.name, h("button", { type: "submit" }, "Find learner"));
  search.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = by.value === "email" ? { email: email.value }
      : { family_name: family.value, ...(given.value.trim() ? { given_name: given.value } : {}) };
    try {
      const found = await loading(results, api.tenantCall(tenantId, "POST", `/v1/tenants/${tenantId}/learners/search`, body));
      const items = found.items;
      const first = items[0];
      const summary = items.length === 1 ? `1 learner found, enrolled ${day(first.created_at)} (${shortId(first.learner_id)})`
        : `${items.length} learners found`;
      results.replaceChildren(h("p", { "data-testid": "hold-learner-found" }, summary),
        items.length ? table("Matching learners: enrolment date and the end of the id; names stay on the school's own screens",
          ["Learner", "Enrolled", ""], items.map((l) => [h("span", { class: "id" }, shortId(l.learner_id)), day(l.created_at), choose(l)])) : "");
      if (items.length === 1) pick(first);
    } catch (error) { results.replaceChildren(errorText(error)); }
  });
  return { nodes: [search, results, chosen], learner: () => picked,
           clear: () => { picked = null; chosen.textContent = none; results.replaceChildren(); } };
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
    listCard.replaceChildren(
      message ? h("p", { role: "status" }, message) : "",
      h("p", { class: "muted" }, `${active.length} hold(s) in force, ${list.items.length - active.length} lifted.`),
      table(`Legal holds of ${tenant.name}`, ["Scope", "Category", "Reason", "Placed", "Status", ""],
        list.items.map((x) => [x.scope === "learner" ? `One learner (${shortId(x.learner_id)})` : "Whole tenant", CATEGORIES[x.category] || x.category,
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
      await load(learner ? `Hold placed on learner ${shortId(learner.learner_id)}.` : `Hold placed on the whole of ${tenant.name}.`);
    } catch (error) { status.replaceChildren(errorText(error)); }
  });
  main.append(card("Legal holds", listCard),
    card("Place a hold", h("p", { class: "muted" }, `On ${tenant.name}: choose a learner, or none to hold the whole tenant.`),
      ...picker.nodes, place, status));
  await load();
}
