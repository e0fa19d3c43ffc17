// Offboarding (platform admins): two steps. Requesting answers the waiting period and what confirming will
// destroy; confirming needs the tenant's name typed and is refused clearly (409) while a hold is active or
// the waiting period runs.
import { h, card, field, errorText, when, countdown, loading, tenantsOf } from "./ui.js";

const REFUSALS = {
  legal_hold_active: () => "A legal hold is active on this tenant: offboarding waits until every hold is lifted (see Legal holds).",
  offboarding_waiting_period: (error, pending) => `Not yet: the waiting period ends ${when((error.detail || {}).confirmable_at || pending.confirmable_at)} ` +
    `(${countdown((error.detail || {}).confirmable_at || pending.confirmable_at).replace(" left", " to go")}). Nothing was destroyed.`,
  offboarding_not_requested: () => "This offboarding is no longer pending: request it again.",
  offboarding_in_progress: () => "Another confirmation of this offboarding is running: try again in a minute.",
  tenant_offboarding: () => "This tenant is being offboarded already.",
};

function refusal(error, pending) {
  const explain = REFUSALS[error.reason] || REFUSALS[error.code];
  return h("p", { class: "error", role: "alert" }, explain ? explain(error, pending || {}) : error.message);
}

function list(items) {
  return h("ul", {}, items.map((x) => h("li", {}, x)));
}

export async function offboard(main, { api, session, config, args }) {
  const all = await tenantsOf(api, Object.keys(config.pools));
  const tenantId = args[0] && all.some((t) => t.tenant_id === args[0]) ? args[0] : "";
  const select = h("select", { name: "tenant", required: true, "aria-label": "Tenant" }, h("option", { value: "" }, "Choose a tenant"),
    all.map((t) => h("option", { value: t.tenant_id, selected: t.tenant_id === tenantId }, `${t.name} (${t.jurisdiction}, ${t.home_region})`)));
  const pick = h("form", { class: "inline", "aria-label": "Choose a tenant to offboard" }, field("Tenant", select),
    h("button", { type: "submit" }, "Continue"));
  pick.addEventListener("submit", (event) => { event.preventDefault(); if (select.value) location.hash = `#/offboard/${select.value}`; });
  main.append(card("Choose a tenant", pick));
  if (!tenantId) return;
  const tenant = all.find((t) => t.tenant_id === tenantId);
  const out = h("div");
  const request = h("button", { type: "button", class: "danger" }, "Request offboarding");
  const step1 = card("Step 1: request", h("p", {}, `Requesting the offboarding of ${tenant.name} (${tenant.home_region}) starts a waiting ` +
    "period; nothing is destroyed until it is confirmed after that period."), request, out);
  main.append(step1);
  request.addEventListener("click", async () => {
    out.replaceChildren();
    try {
      const pending = await loading(out, api.tenantCall(tenantId, "DELETE", `/v1/tenants/${tenantId}`), "Requesting…");
      request.hidden = true;
      out.replaceChildren(h("p", { role: "status" }, `Offboarding requested ${when(pending.requested_at)}. ` +
          `Waiting period: ${pending.waiting_days ?? "—"} days; it can be confirmed from ${when(pending.confirmable_at)} ` +
          `(${countdown(pending.confirmable_at).replace(" left", " to go").replace(" overdue", " ago")}).`),
        h("h3", {}, "Confirming destroys"), list(pending.destroys || ["every learner record and the tenant's keys"]),
        h("h3", {}, "It keeps"), list(pending.keeps || []));
      main.append(confirmStep(api, tenant, pending));
    } catch (error) { out.replaceChildren(refusal(error)); }
  });
}

function confirmStep(api, tenant, pending) {
  const result = h("div");
  const typed = h("input", { name: "confirm_name", autocomplete: "off", "aria-describedby": "offboard-confirm-help" });
  const go = h("button", { type: "submit", class: "danger", disabled: true }, "Offboard for good");
  typed.addEventListener("input", () => { go.disabled = typed.value.trim() !== tenant.name.trim(); });
  const form = h("form", { "aria-label": "Confirm the offboarding" },
    h("p", { id: "offboard-confirm-help", class: "muted" }, `Type the tenant's name, ${tenant.name}, to confirm.`),
    field("Tenant name", typed), go);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (typed.value.trim() !== tenant.name.trim()) return;
    result.replaceChildren();
    try {
      const receipt = await loading(result, api.tenantCall(tenant.tenant_id, "DELETE",
        `/v1/tenants/${tenant.tenant_id}?confirm=${encodeURIComponent(pending.offboarding_id)}`), "Offboarding: exporting, then destroying the keys…");
      go.disabled = true;
      result.replaceChildren(h("p", { role: "status" }, `${tenant.name} was offboarded ${when(receipt.offboarded_at)}: ` +
        `${receipt.key_versions_destroyed ?? "every"} key version(s) destroyed.`));
    } catch (error) { result.replaceChildren(refusal(error, pending)); }
  });
  return card("Step 2: confirm", form, result);
}
