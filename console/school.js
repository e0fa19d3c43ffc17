// The school's legal holds (read-only: regional admins place and lift them) and its standing obligations,
// where a tenant admin records the evidence that one was met.
import { h, card, field, say, errorText, formValues, badge, stackedTable, busy, when, day } from "./ui.js";
import { learnerName, words } from "./tenant-common.js";

const OBLIGATION = { due: ["Due", "overdue"], lapsed: ["Lapsed", "overdue"], met: ["Met", "ok"],
  pending: ["Pending", "muted-badge"], on_event: ["When it happens", "muted-badge"] };

export async function holds(main, { api, session }) {
  const found = await api.tenantCall(session.tenant, "GET", `/v1/tenants/${session.tenant}/legal-holds`);
  const ids = [...new Set(found.items.map((x) => x.learner_id).filter(Boolean))];
  const names = new Map(await Promise.all(ids.map((id) => api.tenantCall(session.tenant, "GET", `/v1/tenants/${session.tenant}/learners/${id}`)
    .then((l) => [id, learnerName(l)]).catch(() => [id, null]))));
  const rows = found.items.map((x) => [
    x.learner_id ? h("a", { href: `#/learner/${x.learner_id}` }, names.get(x.learner_id) || `Learner ${x.learner_id}`) : "The whole school",
    words(x.category), x.reason, when(x.placed_at),
    x.lifted_at ? badge(`Lifted ${when(x.lifted_at)}`, "ok") : badge("In force", "restricted")]);
  main.append(card("Legal holds on the school's records",
    h("p", { class: "muted" }, "A hold stops erasure and the retention sweep for what it covers. Your regional administrator places and lifts holds."),
    stackedTable(`${found.items.filter((x) => !x.lifted_at).length} in force, ${found.items.length} in all`,
      ["Covers", "Category", "Reason", "Placed", "State"], rows, { empty: "No legal hold was ever placed on this school." })));
}

export async function obligations(main, { api, session, rerender }) {
  const path = `/v1/tenants/${session.tenant}/obligations`;
  const found = await api.tenantCall(session.tenant, "GET", path);
  const s = found.summary || {};
  main.append(card("Checklist",
    h("p", {}, `${s.due || 0} due, ${s.lapsed || 0} lapsed, ${s.met || 0} met, ${s.pending || 0} pending, ${s.on_event || 0} when something happens (as of ${day(found.as_of)}).`),
    stackedTable("What the law asks of the school, and the evidence recorded", ["Obligation", "Law", "Status", "Evidence", "Record evidence"],
      found.items.map((o) => [
        h("span", {}, h("strong", {}, o.title), h("br"), h("span", { class: "muted" }, `${o.rule} (${o.sources.join("; ")})`)),
        o.law, badge(...(OBLIGATION[o.status] || [words(o.status), "muted-badge"])),
        o.evidenced_on ? `done ${day(o.evidenced_on)}${o.lapses_on ? `, renew by ${day(o.lapses_on)}` : ""}` : "none yet",
        evidenceForm(api, session, path, o, rerender)]))));
}

function evidenceForm(api, session, path, o, rerender) {
  const out = h("div");
  const today = new Date().toISOString().slice(0, 10);
  const button = h("button", { type: "submit", class: "secondary" }, "Record");
  const form = h("form", { class: "inline compact", "aria-label": `Evidence for ${o.title}` },
    field("Done on", h("input", { name: "evidenced_on", type: "date", required: true, max: today, value: today })),
    field("Document link (https, optional)", h("input", { name: "reference", type: "url", pattern: "https://.*", autocomplete: "off" })),
    button, out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await busy(button, () => api.tenantCall(session.tenant, "POST", `${path}/${encodeURIComponent(o.key)}/evidence`, formValues(form)));
      say("Evidence recorded");
      rerender();
    } catch (error) { out.replaceChildren(errorText(error)); }
  });
  return form;
}
