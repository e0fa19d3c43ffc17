// A learner's record: details, results (add one), consent (the learner's or a guardian's, with the verification
// method the jurisdiction asks) and its history; for tenant admins: rectify, erase, lift a restriction, record a request.
import { h, card, field, say, errorText, formValues, stackedTable, busy, when, day } from "./ui.js";
import { learnersPath, statusBadge, school, lawPack, words } from "./tenant-common.js";

const REQUEST_TYPES = ["access", "rectification", "erasure", "restriction"];

export async function learner(main, { api, session, args, rerender }) {
  const id = args[0];
  const path = `${learnersPath(session)}/${encodeURIComponent(id)}`;
  let view;
  try {
    view = await api.tenantCall(session.tenant, "GET", path);
  } catch (error) {
    if (error.status === 410) {
      main.append(card("Learner", h("p", {}, statusBadge("erased"), ` ${id} was erased: ${error.message}. Nothing personal is left to show.`)));
      return;
    }
    if (error.status === 409 && error.code === "processing_restricted") {
      restricted(main, api, session, id, path, error, rerender);
      return;
    }
    throw error;
  }
  main.querySelector("h1").textContent = `${view.given_name} ${view.family_name}`;
  main.append(card("Learner", h("dl", { class: "fields" },
    [["Learner id", id], ["Given name", view.given_name], ["Family name", view.family_name], ["E-mail", view.email],
     ["Date of birth", day(view.date_of_birth)], ["Programme", view.programme || "—"],
     ["Guardian", view.guardian ? `${view.guardian.name} (${view.guardian.email})` : "—"],
     ["Enrolled", when(view.created_at)], ["Last change", `${when(view.updated_at)} (version ${view.version})`]]
      .flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))]))));
  const [results, consents, tenant] = await Promise.all([
    api.tenantCall(session.tenant, "GET", `${path}/results`),
    api.tenantCall(session.tenant, "GET", `${path}/consents`),
    school(api, session)]);
  main.append(resultsCard(api, session, path, results, rerender));
  const pack = await lawPack(api, tenant.jurisdiction).catch(() => null);
  main.append(consentCard(api, session, path, consents, pack, rerender));
  if (session.role === "tenant_admin") main.append(...adminCards(main, api, session, id, path, rerender));
}

function restricted(main, api, session, id, path, error, rerender) {
  const out = h("div");
  const since = error.details && error.details.restricted_at;
  const body = [h("p", {}, statusBadge("restricted"),
    ` Processing of this learner is restricted${since ? ` since ${when(since)}` : ""} (a restriction request): `
    + "the record is stored but not shown or used until the restriction is lifted.")];
  if (session.role === "tenant_admin") {
    const lift = h("button", { type: "button", onclick: async () => {
      try {
        await busy(lift, () => api.tenantCall(session.tenant, "DELETE", `${path}/restriction`));
        say("Restriction lifted");
        rerender();
      } catch (problem) { out.replaceChildren(errorText(problem)); }
    } }, "Lift the restriction");
    body.push(h("p", {}, lift), out);
  }
  main.append(card("Learner", ...body, h("p", { class: "muted" }, `Learner id ${id}`)));
}

function resultsCard(api, session, path, results, rerender) {
  const out = h("div");
  const today = new Date().toISOString().slice(0, 10);
  const button = h("button", { type: "submit" }, "Add result");
  const form = h("form", { class: "inline", "aria-label": "Add a result" },
    field("Assessment", h("input", { name: "assessment", required: true, autocomplete: "off" })),
    field("Score", h("input", { name: "score", type: "number", min: "0", step: "any", required: true })),
    field("Out of", h("input", { name: "max_score", type: "number", min: "0", step: "any", required: true })),
    field("Taken on", h("input", { name: "taken_on", type: "date", required: true, max: today, value: today })),
    button);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = formValues(form);
    values.score = Number(values.score);
    values.max_score = Number(values.max_score);
    try {
      await busy(button, () => api.tenantCall(session.tenant, "POST", `${path}/results`, values, { idempotent: true }));
      say("Result added");
      rerender();
    } catch (error) { out.replaceChildren(errorText(error)); }
  });
  return card("Results", stackedTable("Assessment results, in the order taken", ["Assessment", "Score", "Taken on", "Recorded"],
    results.items.map((r) => [r.assessment, `${r.score} / ${r.max_score}`, day(r.taken_on), when(r.recorded_at)]),
    { empty: "No result recorded yet." }), form, out);
}

function consentPurposes(pack) {
  if (!pack || !pack.consent || !pack.consent.purposes) return ["research", "marketing", "analytics"];
  return Object.entries(pack.consent.purposes)
    .filter(([, p]) => p.requires_consent || p.lawful_basis === "consent" || (p.alternative_bases || []).includes("consent"))
    .map(([name]) => name);
}

function consentCard(api, session, path, consents, pack, rerender) {
  const out = h("div");
  const methods = (pack && pack.consent && pack.consent.guardian_verification && pack.consent.guardian_verification.methods) || [];
  const givenBy = h("select", { name: "given_by" }, h("option", { value: "learner" }, "the learner"),
    h("option", { value: "guardian" }, "a guardian"));
  const verification = h("select", { name: "verification", "aria-describedby": "verification-hint" },
    methods.map((m) => h("option", { value: m }, words(m))));
  const verificationField = field("How the guardian was verified", verification);
  const hint = h("p", { id: "verification-hint", class: "hint muted" },
    pack ? `${pack.code}: ${pack.consent.guardian_verification.rule} (${pack.consent.guardian_verification.sources.join("; ")})` : "");
  const show = () => {
    const guardian = givenBy.value === "guardian";
    verificationField.hidden = !guardian; hint.hidden = !guardian; verification.disabled = !guardian;
  };
  givenBy.addEventListener("change", show);
  const button = h("button", { type: "submit" }, "Record");
  const form = h("form", { class: "inline", "aria-label": "Record consent" },
    field("Purpose", h("select", { name: "purpose" }, consentPurposes(pack).map((p) => h("option", { value: p }, words(p))))),
    field("Decision", h("select", { name: "decision" }, h("option", { value: "granted" }, "granted"), h("option", { value: "withdrawn" }, "withdrawn"))),
    field("Given by", givenBy), verificationField, button, hint);
  show();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const values = formValues(form);
      await busy(button, () => api.tenantCall(session.tenant, "POST", `${path}/consents`, values, { idempotent: true }));
      say("Consent recorded");
      rerender();
    } catch (error) { out.replaceChildren(errorText(error)); }
  });
  const current = Object.values(consents.current || {});
  return card("Consent",
    stackedTable("Now in force, per purpose", ["Purpose", "Decision", "Since"],
      current.map((c) => [words(c.purpose), c.decision, when(c.at)]), { empty: "No consent decision recorded." }),
    stackedTable("History, oldest first", ["Purpose", "Decision", "Given by", "Verification", "At"],
      consents.history.map((c) => [words(c.purpose), c.decision, c.given_by, words(c.verification || "—"), when(c.at)])),
    form, out);
}

function adminCards(main, api, session, id, path, rerender) {
  const adminOut = h("div");
  const save = h("button", { type: "submit" }, "Save correction");
  const fix = h("form", { class: "inline", "aria-label": "Rectify" },
    field("Given name", h("input", { name: "given_name", autocomplete: "off" })),
    field("Family name", h("input", { name: "family_name", autocomplete: "off" })),
    field("E-mail", h("input", { name: "email", type: "email", autocomplete: "off" })),
    save);
  fix.addEventListener("submit", async (event) => {
    event.preventDefault();
    try { await busy(save, () => api.tenantCall(session.tenant, "PATCH", path, formValues(fix))); say("Learner corrected"); rerender(); }
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
      const heading = h("h1", { tabindex: "-1" }, "Learner");
      main.replaceChildren(heading, card("Erased", h("p", {}, statusBadge("erased"),
        ` ${receipt.learner_id} erased at ${when(receipt.erased_at)}; backups expire by ${when(receipt.backups_expire_by)}.`)));
      heading.focus();
    } catch (error) { adminOut.replaceChildren(errorText(error)); }
  });
  const requestOut = h("div");
  const record = h("button", { type: "submit" }, "Record the request");
  const requestForm = h("form", { class: "inline", "aria-label": "Record a request for this learner" },
    field("Request type", h("select", { name: "type" }, REQUEST_TYPES.map((t) => h("option", { value: t }, t)))),
    field("Received on", h("input", { name: "received_on", type: "date", max: new Date().toISOString().slice(0, 10) })),
    record);
  requestForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = formValues(requestForm);
    const body = { learner_id: id, type: values.type };
    if (values.received_on && values.received_on !== new Date().toISOString().slice(0, 10)) body.received_at = `${values.received_on}T09:00:00Z`;
    try {
      const r = await busy(record, () => api.tenantCall(session.tenant, "POST", `/v1/tenants/${session.tenant}/requests`, body, { idempotent: true }));
      requestOut.replaceChildren(h("p", { role: "status" }, `Recorded: ${r.type} request, ${words(r.status)}, due ${when(r.due_at)}. `,
        h("a", { href: `#/request/${r.request_id}` }, "Open the request")));
    } catch (error) { requestOut.replaceChildren(errorText(error)); }
  });
  return [card("Data-subject request", h("p", { class: "muted" }, "Access, erasure and restriction are carried out when recorded; a rectification stays open until you correct the record and close it."), requestForm, requestOut),
    card("Rectify and erase", fix, h("p", {}, h("button", { type: "button", class: "danger", onclick: () => dialog.showModal() }, "Erase learner…")), adminOut, dialog)];
}
