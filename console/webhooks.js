// Webhooks of the tenant admin's school: the endpoints (register, rotate the secret, remove), the secret shown
// once, and the deliveries that failed for 24 hours (dead letters) with a replay button. docs/events.md.
import { h, card, table, field, errorText, when, loading, busy, say } from "./ui.js";

const TYPES = ["request.created", "request.due_soon", "request.overdue", "request.fulfilled", "learner.erased",
  "incident.recorded", "incident.deadline_near", "audit.event_altered", "import.finished"];

function secretNote(answer) {
  return h("div", { role: "status", class: "secret" },
    h("p", {}, "Signing secret of this endpoint, shown this once: copy it to your receiver now."),
    h("p", {}, h("code", {}, answer.secret)),
    answer.previous_secret_valid_until
      ? h("p", { class: "muted" }, `The previous secret also signs until ${when(answer.previous_secret_valid_until)}.`) : "");
}

export async function webhooks(main, { api, session }) {
  const tenantId = session.tenant;
  const base = `/v1/tenants/${tenantId}`;
  const call = (method, path, body) => api.tenantCall(tenantId, method, base + path, body);
  const status = h("div");
  const list = h("div");
  const parked = h("div");
  async function load() {
    const [found, dead] = await loading(list, Promise.all([call("GET", "/webhooks"), call("GET", "/webhook-dead-letters")]));
    list.replaceChildren(table("Endpoints", ["URL", "Event types", "Registered", ""],
      found.webhooks.map((w) => [h("span", { class: "id" }, w.url), w.event_types.join(", "), when(w.created_at),
        h("span", {},
          h("button", { type: "button", class: "secondary", onclick: (e) => busy(e.target, async () => {
            try { status.replaceChildren(secretNote(await call("POST", `/webhooks/${w.webhook_id}/rotate`))); await load(); }
            catch (error) { status.replaceChildren(errorText(error)); }
          }) }, "Rotate secret"),
          h("button", { type: "button", class: "danger", onclick: (e) => busy(e.target, async () => {
            try { await call("DELETE", `/webhooks/${w.webhook_id}`); say("Endpoint removed"); await load(); }
            catch (error) { status.replaceChildren(errorText(error)); }
          }) }, "Remove"))])));
    parked.replaceChildren(table("Dead letters (failed for 24 hours)", ["Event", "Event id", "Attempts", "Last answer", "Parked", ""],
      dead.dead_letters.map((d) => [d.event_type, h("span", { class: "id" }, d.event_id), String(d.attempts),
        d.last_status || "", when(d.parked_at),
        h("button", { type: "button", class: "secondary", onclick: (e) => busy(e.target, async () => {
          try { await call("POST", `/webhook-dead-letters/${d.delivery_id}/replay`); say("Queued again"); await load(); }
          catch (error) { status.replaceChildren(errorText(error)); }
        }) }, "Replay")])));
  }
  const url = h("input", { name: "url", type: "url", required: true, placeholder: "https://", autocomplete: "off" });
  const boxes = TYPES.map((type) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "event_types", value: type }), ` ${type}`));
  const button = h("button", { type: "submit" }, "Register endpoint");
  const form = h("form", { "aria-label": "Register a webhook endpoint" }, field("Endpoint URL", url),
    h("fieldset", {}, h("legend", {}, "Event types"), ...boxes), button);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
    try {
      const answer = await busy(button, () => call("POST", "/webhooks", { url: url.value, event_types: chosen }));
      status.replaceChildren(secretNote(answer));
      form.reset();
      await load();
    } catch (error) { status.replaceChildren(errorText(error)); }
  });
  main.append(card("Webhook endpoints", list), card("Register an endpoint", form, status), card("Dead letters", parked));
  await load();
}
