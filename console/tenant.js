// Screens of tenant admins and staff: learners (list, search, enrol, view, rectify, erase), requests.
import { h, card, table, field, say, errorText, formValues, badge } from "./ui.js";

const base = (session) => `/v1/tenants/${session.tenant}/learners`;

async function search(api, email) {
  const path = base(api.session);
  try {
    return await api.tenantCall(api.session.tenant, "POST", `${path}/search`, { email });
  } catch (error) {
    // Not deployed yet on this API (unknown routes answer no CORS preflight): the older GET look-up.
    if (error.status !== undefined && error.status !== 404 && error.status !== 405) throw error;
    return api.tenantCall(api.session.tenant, "GET", `${path}?email=${encodeURIComponent(email)}`);
  }
}

function statusBadge(status) {
  return badge({ active: "Active", restricted: "Restricted", erased: "Erased" }[status] || status, status === "active" ? "ok" : status);
}

async function learners(main, { api, session }) {
  const list = h("div");
  const rows = [];
  let cursor = null;
  const more = h("button", { type: "button", class: "secondary", hidden: true, onclick: () => load() }, "More learners");
  async function load() {
    const page = await api.tenantCall(session.tenant, "GET", `${base(session)}?limit=25` + (cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""));
    rows.push(...page.items.map((l) => [h("a", { href: `#/learner/${l.learner_id}` }, l.learner_id), statusBadge(l.status),
                                        (l.created_at || "").slice(0, 10), l.erased_at || l.updated_at || ""]));
    cursor = page.next_cursor;
    more.hidden = !cursor;
    list.replaceChildren(table("Learners of your tenant (open one to see personal details)", ["Learner", "Status", "Enrolled", "Last change"], rows));
  }
  const found = h("div");
  const email = h("input", { name: "email", type: "email", required: true, autocomplete: "off" });
  const find = h("form", { class: "inline", "aria-label": "Search by e-mail" }, field("E-mail address", email),
    h("button", { type: "submit" }, "Search"));
  find.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const result = await search(api, email.value);
      found.replaceChildren(table(`${result.items.length} match(es)`, ["Learner", "Name", "E-mail"],
        result.items.map((l) => [h("a", { href: `#/learner/${l.learner_id}` }, l.learner_id), `${l.given_name} ${l.family_name}`, l.email])));
    } catch (error) { found.replaceChildren(errorText(error)); }
  });
  main.append(card("Search", find, found), card("Learners", list, more));
  await load();
}

async function enrol(main, { api, session }) {
  const out = h("div");
  const form = h("form", { "aria-label": "Enrol a learner" },
    field("Given name", h("input", { name: "given_name", required: true, autocomplete: "off" })),
    field("Family name", h("input", { name: "family_name", required: true, autocomplete: "off" })),
    field("E-mail", h("input", { name: "email", type: "email", required: true, autocomplete: "off" })),
    field("Date of birth", h("input", { name: "date_of_birth", type: "date", required: true })),
    field("Programme", h("input", { name: "programme" })),
    h("button", { type: "submit" }, "Enrol learner"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const learner = await api.tenantCall(session.tenant, "POST", base(session), formValues(form), { idempotent: true });
      say("Learner enrolled");
      out.replaceChildren(h("p", { role: "status" }, "Enrolled: ", h("a", { href: `#/learner/${learner.learner_id}` }, learner.learner_id)));
      form.reset();
    } catch (error) { out.replaceChildren(errorText(error)); }
  });
  main.append(card("New learner", form, out));
}

async function learner(main, { api, session, args, rerender }) {
  const id = args[0];
  const path = `${base(session)}/${id}`;
  let view;
  try {
    view = await api.tenantCall(session.tenant, "GET", path);
  } catch (error) {
    if (error.status === 410) {
      main.append(card("Learner", h("p", {}, statusBadge("erased"), ` ${id} was erased: ${error.message}. Nothing personal is left to show.`)));
      return;
    }
    throw error;
  }
  main.append(card("Learner", h("dl", { class: "fields" },
    [["Learner id", id], ["Given name", view.given_name], ["Family name", view.family_name], ["E-mail", view.email],
     ["Date of birth", view.date_of_birth], ["Programme", view.programme || "—"], ["Version", view.version]]
      .flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))]))));
  const results = await api.tenantCall(session.tenant, "GET", `${path}/results`);
  main.append(card("Results", table("Assessment results", ["Assessment", "Score", "Taken on"],
    results.items.map((r) => [r.assessment, `${r.score} / ${r.max_score}`, r.taken_on]))));
  const consents = await api.tenantCall(session.tenant, "GET", `${path}/consents`);
  const consentForm = h("form", { class: "inline", "aria-label": "Record consent" },
    field("Purpose", h("select", { name: "purpose" }, ["research", "marketing", "photos", "analytics"].map((p) => h("option", { value: p }, p)))),
    field("Decision", h("select", { name: "decision" }, h("option", { value: "granted" }, "granted"), h("option", { value: "withdrawn" }, "withdrawn"))),
    field("Given by", h("select", { name: "given_by" }, h("option", { value: "guardian" }, "guardian"), h("option", { value: "learner" }, "learner"))),
    h("button", { type: "submit" }, "Record"));
  const consentOut = h("div");
  consentForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try { await api.tenantCall(session.tenant, "POST", `${path}/consents`, formValues(consentForm)); say("Consent recorded"); rerender(); }
    catch (error) { consentOut.replaceChildren(errorText(error)); }
  });
  main.append(card("Consent", table("History, oldest first", ["Purpose", "Decision", "Given by", "At"],
    consents.history.map((c) => [c.purpose, c.decision, c.given_by, c.at])), consentForm, consentOut));
  if (session.role !== "tenant_admin") return;
  const fix = h("form", { class: "inline", "aria-label": "Rectify" },
    field("Given name", h("input", { name: "given_name", autocomplete: "off" })),
    field("Family name", h("input", { name: "family_name", autocomplete: "off" })),
    h("button", { type: "submit" }, "Save correction"));
  const adminOut = h("div");
  fix.addEventListener("submit", async (event) => {
    event.preventDefault();
    try { await api.tenantCall(session.tenant, "PATCH", path, formValues(fix)); say("Learner corrected"); rerender(); }
    catch (error) { adminOut.replaceChildren(errorText(error)); }
  });
  const dialog = h("dialog", { "aria-labelledby": "erase-title" },
    h("h2", { id: "erase-title" }, "Erase this learner?"),
    h("p", {}, "Erasure destroys the learner's key: every personal detail, result and consent record becomes unreadable for good, also in backups once they expire. It cannot be undone."),
    h("form", { method: "dialog", class: "inline" },
      h("button", { value: "cancel", class: "secondary" }, "Keep the learner"),
      h("button", { value: "erase", class: "danger" }, "Erase for good")));
  dialog.addEventListener("close", async () => {
    if (dialog.returnValue !== "erase") return;
    try {
      const receipt = await api.tenantCall(session.tenant, "DELETE", path);
      say("Learner erased");
      main.replaceChildren(h("h1", {}, "Learner"), card("Erased", h("p", {}, statusBadge("erased"),
        ` ${receipt.learner_id} erased at ${receipt.erased_at}; backups expire by ${receipt.backups_expire_by}.`)));
    } catch (error) { adminOut.replaceChildren(errorText(error)); }
  });
  main.append(card("Rectify and erase", fix, h("p", {}, h("button", { type: "button", class: "danger", onclick: () => dialog.showModal() }, "Erase learner…")), adminOut, dialog));
}

async function requests(main, { api, session }) {
  const out = h("div");
  const form = h("form", { "aria-label": "Record a data request" },
    field("Learner id", h("input", { name: "learner_id", required: true })),
    field("Type", h("select", { name: "type" }, ["access", "rectification", "erasure", "restriction"].map((t) => h("option", { value: t }, t)))),
    h("button", { type: "submit" }, "Record request"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const r = await api.tenantCall(session.tenant, "POST", `/v1/tenants/${session.tenant}/requests`, formValues(form), { idempotent: true });
      out.replaceChildren(h("p", { role: "status" }, `Request ${r.request_id}: ${r.status}, due ${r.due_at}.`));
    } catch (error) { out.replaceChildren(errorText(error)); }
  });
  main.append(card("Data-subject requests", form, out));
}

export const tenantScreens = [
  { id: "learners", title: "Learners", render: learners },
  { id: "enrol", title: "Enrol", render: enrol },
  { id: "learner", title: "Learner", render: learner, hidden: true },
  { id: "requests", title: "Requests", render: requests },
];
