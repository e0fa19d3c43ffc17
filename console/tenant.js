// Screens of tenant admins and staff: find a learner (e-mail, family name, id), browse learners with names,
// enrol. The record view is in learner.js, the school's requests in requests.js, holds and obligations in school.js.
import { h, card, field, say, errorText, formValues, stackedTable, loading, busy, when } from "./ui.js";
import { learner } from "./learner.js";
import { requests, request } from "./requests.js";
import { holds, obligations } from "./school.js";
import { webhooks } from "./webhooks.js";
import { imports } from "./imports.js";
import { learnersPath, statusBadge, school, learnerName, findLearners, STATUS_TEXT } from "./tenant-common.js";

function nameCell(l) {
  const name = learnerName(l);
  return h("span", {}, h("a", { href: `#/learner/${l.learner_id}` }, name || l.learner_id),
    name ? h("span", { class: "muted id" }, ` ${l.learner_id}`) : "");
}

function finder(api) {
  const found = h("div", { "aria-live": "polite" });
  const by = h("select", { name: "by" }, h("option", { value: "email" }, "E-mail"),
    h("option", { value: "name" }, "Family name"), h("option", { value: "id" }, "Learner id"));
  const email = h("input", { name: "email", type: "email", autocomplete: "off" });
  const family = h("input", { name: "family_name", autocomplete: "off" });
  const given = h("input", { name: "given_name", autocomplete: "off" });
  const id = h("input", { name: "learner_id", autocomplete: "off", pattern: "lrn_[A-Za-z0-9]+" });
  const groups = { email: [field("E-mail address", email)],
    name: [field("Family name", family), field("Given name (optional)", given)], id: [field("Learner id", id)] };
  const show = () => {
    for (const [key, labels] of Object.entries(groups)) for (const label of labels) label.hidden = key !== by.value;
    email.required = by.value === "email"; family.required = by.value === "name"; id.required = by.value === "id";
  };
  by.addEventListener("change", show);
  const button = h("button", { type: "submit" }, "Search");
  const form = h("form", { class: "inline", "aria-label": "Find a learner" }, field("Find by", by),
    ...Object.values(groups).flat(), button);
  show();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (by.value === "id") { location.hash = `#/learner/${encodeURIComponent(id.value.trim())}`; return; }
    const body = by.value === "email" ? { email: email.value }
      : { family_name: family.value, ...(given.value.trim() ? { given_name: given.value } : {}) };
    try {
      const result = await busy(button, () => loading(found, () => findLearners(api, body)));
      found.replaceChildren(stackedTable(`${result.items.length} match${result.items.length === 1 ? "" : "es"}`,
        ["Learner", "Name", "E-mail", "Born"],
        result.items.map((l) => [h("a", { href: `#/learner/${l.learner_id}` }, l.learner_id), learnerName(l), l.email, l.date_of_birth])));
    } catch (error) { found.replaceChildren(errorText(error)); }
  });
  return card("Search", form, found);
}

async function learners(main, { api, session }) {
  const list = h("div");
  const rows = [];
  let cursor = null;
  const status = h("select", { name: "status" }, h("option", { value: "" }, "Every status"),
    Object.entries(STATUS_TEXT).map(([value, text]) => h("option", { value }, text)));
  const sort = h("select", { name: "sort" }, h("option", { value: "family_name" }, "Family name"),
    h("option", { value: "enrolled" }, "Enrolment order"));
  const more = h("button", { type: "button", class: "secondary", hidden: true, onclick: () => busy(more, load) }, "More learners");
  const tenant = await school(api, session).catch(() => null);
  async function load() {
    const query = new URLSearchParams({ limit: "25", sort: sort.value });
    if (status.value) query.set("status", status.value);
    if (cursor) query.set("cursor", cursor);
    const page = await loading(list, () => api.tenantCall(session.tenant, "GET", `${learnersPath(session)}?${query}`));
    rows.push(...page.items.map((l) => [nameCell(l), statusBadge(l.status), when(l.created_at),
      when(l.status === "erased" ? l.erased_at : l.updated_at)]));
    cursor = page.next_cursor;
    more.hidden = !cursor;
    list.replaceChildren(stackedTable(`Learners of ${tenant ? tenant.name : "your school"}, ${rows.length} shown` +
      (sort.value === "family_name" ? ", by family name within each page of 25" : ", in enrolment order"),
    ["Learner", "Status", "Enrolled", "Last change"], rows, { empty: "No learner with this status." }));
  }
  const reload = () => { rows.length = 0; cursor = null; load().catch((error) => list.replaceChildren(errorText(error))); };
  status.addEventListener("change", reload);
  sort.addEventListener("change", reload);
  const filters = h("div", { class: "filters" }, field("Status", status), field("Sort by", sort));
  main.append(finder(api), card("Learners", filters, list, more));
  await load();
}

async function enrol(main, { api, session }) {
  const out = h("div");
  const button = h("button", { type: "submit" }, "Enrol learner");
  const form = h("form", { "aria-label": "Enrol a learner" },
    field("Given name", h("input", { name: "given_name", required: true, autocomplete: "off" })),
    field("Family name", h("input", { name: "family_name", required: true, autocomplete: "off" })),
    field("E-mail", h("input", { name: "email", type: "email", required: true, autocomplete: "off" })),
    field("Date of birth", h("input", { name: "date_of_birth", type: "date", required: true })),
    field("Programme", h("input", { name: "programme" })),
    button);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const values = formValues(form);
      const learner = await busy(button, () => api.tenantCall(session.tenant, "POST", learnersPath(session), values, { idempotent: true }));
      say("Learner enrolled");
      out.replaceChildren(h("p", { role: "status" }, "Enrolled: ",
        h("a", { href: `#/learner/${learner.learner_id}` }, `${learner.given_name} ${learner.family_name}`)));
      form.reset();
    } catch (error) { out.replaceChildren(errorText(error)); }
  });
  main.append(card("New learner", form, out));
}

const ADMIN = ["tenant_admin"];

export const tenantScreens = [
  { id: "learners", title: "Learners", render: learners },
  { id: "enrol", title: "Enrol", render: enrol },
  { id: "learner", title: "Learner", render: learner, hidden: true },
  { id: "requests", title: "Requests", render: requests, roles: ADMIN },
  { id: "request", title: "Request", render: request, hidden: true, roles: ADMIN },
  { id: "holds", title: "Legal holds", render: holds, roles: ADMIN },
  { id: "obligations", title: "Obligations", render: obligations, roles: ADMIN },
  { id: "webhooks", title: "Webhooks", render: webhooks, roles: ADMIN },
  { id: "imports", title: "Import", render: imports, roles: ADMIN },
];
