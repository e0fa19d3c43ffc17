// The school's data-subject requests (tenant admins): a chart by status and deadline, the list with deadlines,
// recording one, and one request's page (fulfil, reject, pause or resume where the law allows, download a package).
import { h, card, field, say, errorText, formValues, badge, stackedTable, loading, busy, when, day, due, zoneName } from "./ui.js";
import { words, findLearners, learnerName } from "./tenant-common.js";

const WEEK = 7 * 864e5;
const URGENCY = { overdue: ["Overdue", "overdue"], due_soon: ["Due soon", "due_soon"], on_time: ["Open", "ok"],
  paused: ["Paused", "restricted"], fulfilled: ["Fulfilled", "ok"], rejected: ["Rejected", "muted-badge"] };
const REJECTIONS = ["identity_not_verified", "manifestly_unfounded", "no_change_needed", "right_does_not_apply", "legal_hold"];

const requestsPath = (session) => `/v1/tenants/${session.tenant}/requests`;

function urgencyBadge(r) {
  const [text, kind] = URGENCY[r.status === "open" ? r.urgency : r.status] || [words(r.status), "ok"];
  return badge(text, kind);
}

// Counts for the chart: open requests by deadline (overdue, this week, later), paused, and closed by outcome.
export function tally(items, now = Date.now()) {
  const counts = { overdue: 0, week: 0, later: 0, paused: 0, fulfilled: 0, rejected: 0 };
  for (const r of items) {
    if (r.status !== "open") counts[r.status] = (counts[r.status] || 0) + 1;
    else if (r.urgency === "paused") counts.paused += 1;
    else if (Date.parse(r.due_at) < now) counts.overdue += 1;
    else if (Date.parse(r.due_at) - now <= WEEK) counts.week += 1;
    else counts.later += 1;
  }
  return counts;
}

const BARS = [["overdue", "Overdue", "#a4161a"], ["week", "Due within 7 days", "#7a4b00"], ["later", "Due later", "#0b5cad"],
  ["paused", "Paused (clock stopped)", "#4a5360"], ["fulfilled", "Fulfilled", "#1e6b34"], ["rejected", "Rejected", "#6b2c91"]];

// A horizontal bar chart as inline SVG (presentation attributes only: the console's CSP allows no inline style).
export function chart(counts, summary) {
  const ns = "http://www.w3.org/2000/svg";
  const el = (tag, attrs, text) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const max = Math.max(1, ...BARS.map(([key]) => counts[key]));
  const rowHeight = 26;
  const svg = el("svg", { viewBox: `0 0 360 ${BARS.length * rowHeight + 4}`, width: "100%", role: "img",
    "aria-labelledby": "requests-chart-title requests-chart-desc", class: "chart", preserveAspectRatio: "xMinYMin meet" });
  svg.append(el("title", { id: "requests-chart-title" }, "Requests by status and deadline"),
    el("desc", { id: "requests-chart-desc" }, summary));
  BARS.forEach(([key, label, colour], i) => {
    const y = i * rowHeight + 2;
    const width = Math.round((counts[key] / max) * 170);
    svg.append(el("text", { x: 0, y: y + 16, "font-size": 12, fill: "#1b1f24" }, label),
      el("rect", { x: 150, y: y + 3, width: Math.max(width, counts[key] ? 2 : 0), height: 16, fill: colour, rx: 2 }),
      el("text", { x: 156 + width, y: y + 16, "font-size": 12, fill: "#1b1f24" }, String(counts[key])));
  });
  return svg;
}

function summaryText(counts, partial) {
  const open = counts.overdue + counts.week + counts.later + counts.paused;
  return `${open} open: ${counts.overdue} overdue, ${counts.week} due within 7 days, ${counts.later} due later, `
    + `${counts.paused} paused; ${counts.fulfilled} fulfilled, ${counts.rejected} rejected${partial ? " (first 200 requests)" : ""}.`;
}

export async function requests(main, { api, session }) {
  const overview = h("div");
  const list = h("div");
  const rows = [];
  let cursor = null;
  const status = h("select", { name: "status" }, h("option", { value: "open" }, "Open"),
    h("option", { value: "" }, "Every status"), h("option", { value: "fulfilled" }, "Fulfilled"), h("option", { value: "rejected" }, "Rejected"));
  const before = h("input", { name: "due_before", type: "date" });
  const more = h("button", { type: "button", class: "secondary", hidden: true, onclick: () => busy(more, load) }, "More requests");
  const learnerLink = (r) => h("a", { href: `#/request/${r.request_id}` }, r.learner_name || `Learner ${r.learner_id}`);
  async function load() {
    const query = new URLSearchParams({ limit: "50" });
    if (status.value) query.set("status", status.value);
    if (before.value) query.set("due_before", before.value);
    if (cursor) query.set("cursor", cursor);
    const page = await loading(list, () => api.tenantCall(session.tenant, "GET", `${requestsPath(session)}?${query}`));
    rows.push(...page.items.map((r) => [learnerLink(r), r.type, urgencyBadge(r), when(r.received_at),
      r.status === "open" ? due(r.due_at) : `closed ${when(r.closed_at || r.fulfilled_at)}`]));
    cursor = page.next_cursor;
    more.hidden = !cursor;
    list.replaceChildren(stackedTable(`Requests, earliest due first within each page; times in ${zoneName()}`,
      ["Learner", "Type", "Status", "Received", "Due"], rows, { empty: "No request matches." }));
  }
  const reload = () => { rows.length = 0; cursor = null; load().catch((error) => list.replaceChildren(errorText(error))); };
  status.addEventListener("change", reload);
  before.addEventListener("change", reload);
  async function overviewLoad() {
    const all = await api.tenantCall(session.tenant, "GET", `${requestsPath(session)}?limit=200`);
    const counts = tally(all.items);
    const text = summaryText(counts, Boolean(all.next_cursor));
    overview.replaceChildren(chart(counts, text), h("p", { class: "muted", id: "requests-summary" }, text));
  }
  main.append(card("Overview", overview),
    card("The school's requests", h("div", { class: "filters" }, field("Status", status), field("Due before", before)), list, more),
    recordCard(api, session, reload));
  await Promise.all([loading(overview, overviewLoad).catch((error) => overview.replaceChildren(errorText(error))), load()]);
}

// The learner the request is about, found by e-mail or by family name (and given name): names, never ids to type.
function learnerChoice(api) {
  const by = h("select", { name: "by" }, h("option", { value: "name" }, "Family name"), h("option", { value: "email" }, "E-mail"));
  const family = h("input", { name: "family_name", autocomplete: "off" });
  const given = h("input", { name: "given_name", autocomplete: "off" });
  const email = h("input", { name: "email", type: "email", autocomplete: "off" });
  const byName = [field("Family name", family), field("Given name (optional)", given)];
  const byEmail = [field("Learner's e-mail", email)];
  const show = () => { for (const label of byName) label.hidden = by.value !== "name"; for (const label of byEmail) label.hidden = by.value !== "email"; };
  by.addEventListener("change", show);
  show();
  const find = h("button", { type: "submit", class: "secondary" }, "Find the learner");
  const form = h("form", { class: "inline", "aria-label": "Find the learner of the request" }, field("Find by", by), ...byName, ...byEmail, find);
  const results = h("div", { "aria-live": "polite" });
  const chosen = h("p", { class: "muted", role: "status" }, "No learner chosen yet.");
  let picked = null;
  const choose = (l) => {
    picked = l;
    chosen.textContent = `Chosen: ${learnerName(l) || "a learner"}, born ${day(l.date_of_birth)}.`;
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = by.value === "email" ? { email: email.value }
      : { family_name: family.value, ...(given.value.trim() ? { given_name: given.value } : {}) };
    try {
      const found = await busy(find, () => loading(results, () => findLearners(api, body)));
      const live = found.items.filter((l) => l.status !== "erased");
      results.replaceChildren(stackedTable(`${live.length} learner${live.length === 1 ? "" : "s"} found`, ["Learner", "E-mail", "Born", ""],
        live.map((l) => [learnerName(l) || "—", l.email || "—", day(l.date_of_birth),
          h("button", { type: "button", class: "secondary", onclick: () => choose(l), "aria-label": `Choose ${learnerName(l) || "this learner"}` }, "Choose")]),
        { empty: "No learner matches: check the spelling (the search is exact)." }));
      if (live.length === 1) choose(live[0]);
    } catch (error) { results.replaceChildren(errorText(error)); }
  });
  return { nodes: [form, results, chosen], learner: () => picked,
           clear: () => { picked = null; chosen.textContent = "No learner chosen yet."; results.replaceChildren(); form.reset(); show(); } };
}

function recordCard(api, session, reload) {
  const out = h("div");
  const picker = learnerChoice(api);
  const button = h("button", { type: "submit" }, "Record request");
  const form = h("form", { class: "inline", "aria-label": "Record a data request" },
    field("Type", h("select", { name: "type" }, ["access", "rectification", "erasure", "restriction"].map((t) => h("option", { value: t }, t)))),
    button);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const learner = picker.learner();
    if (!learner) { out.replaceChildren(errorText(new Error("Find and choose the learner first."))); return; }
    try {
      const values = { ...formValues(form), learner_id: learner.learner_id };
      const r = await busy(button, () => api.tenantCall(session.tenant, "POST", requestsPath(session), values, { idempotent: true }));
      out.replaceChildren(h("p", { role: "status" }, `Recorded: ${r.type} request for ${learnerName(learner) || "the learner"}, ${words(r.status)}, due ${when(r.due_at)}. `,
        h("a", { href: `#/request/${r.request_id}` }, "Open the request")));
      form.reset();
      picker.clear();
      reload();
    } catch (error) { out.replaceChildren(errorText(error)); }
  });
  return card("Record a request", h("p", { class: "muted" }, "Find the learner by family name or e-mail, choose them, then record the request."),
    ...picker.nodes, form, out);
}

export async function request(main, { api, session, args, rerender }) {
  const path = `${requestsPath(session)}/${encodeURIComponent(args[0])}`;
  const r = await api.tenantCall(session.tenant, "GET", path);
  const learner = await api.tenantCall(session.tenant, "GET", `/v1/tenants/${session.tenant}/learners/${r.learner_id}`)
    .then((l) => `${l.given_name} ${l.family_name}`).catch((error) => (error.status === 410 ? "an erased learner" : `learner ${r.learner_id}`));
  main.querySelector("h1").textContent = `${words(r.type)} request`;
  const rule = r.deadline || {};
  const facts = [["Learner", h("a", { href: `#/learner/${r.learner_id}` }, learner)], ["Status", urgencyBadge(r)],
    ["Received", when(r.received_at)],
    ["Due", r.status === "open" ? due(r.due_at) : when(r.due_at)],
    ["Deadline rule", rule.amount ? `${rule.amount} ${words(rule.unit)} (${(rule.sources || []).join("; ")})` : "—"]];
  if (r.fulfilled_at) facts.push(["Fulfilled", when(r.fulfilled_at)]);
  if (r.closed_at && !r.fulfilled_at) facts.push(["Closed", when(r.closed_at)]);
  if (r.rejection_reason) facts.push(["Rejected because", words(r.rejection_reason)]);
  for (const p of r.pauses || []) facts.push(["Clock stopped", `${words(p.reason)}: ${when(p.paused_at)}${p.resumed_at ? ` to ${when(p.resumed_at)}` : " (still paused)"}`]);
  main.append(card("Request", h("dl", { class: "fields" }, facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    r.next_step ? h("p", { class: "muted" }, "Next step: correct the learner's record (open the learner, Rectify), then fulfil this request here.") : "",
    r.fulfilment_error ? errorText(r.fulfilment_error) : ""));
  const out = h("div", { "aria-live": "polite" });
  const act = (button, method, suffix, body, done) => async () => {
    try { await busy(button, () => api.tenantCall(session.tenant, method, `${path}${suffix}`, body)); say(done); rerender(); }
    catch (error) { out.replaceChildren(errorText(error)); }
  };
  const actions = [];
  if (r.status === "open" && !r.paused) {
    const fulfil = h("button", { type: "button" }, "Fulfil");
    fulfil.addEventListener("click", act(fulfil, "POST", "/fulfil", {}, "Request fulfilled"));
    const pauseReason = h("select", { name: "pause_reason" }, h("option", { value: "identity" }, "proof of identity"),
      h("option", { value: "clarification" }, "a clarification"));
    const pause = h("button", { type: "button", class: "secondary" }, "Stop the clock");
    pause.addEventListener("click", () => act(pause, "POST", "/pause", { reason: pauseReason.value }, "Clock stopped")());
    actions.push(h("p", {}, fulfil), h("div", { class: "inline-row" }, field("Waiting for", pauseReason), pause));
  }
  if (r.status === "open" && r.paused) {
    const resume = h("button", { type: "button" }, "Resume (the information arrived)");
    resume.addEventListener("click", act(resume, "POST", "/resume", undefined, "Clock restarted"));
    actions.push(h("p", {}, resume));
  }
  if (r.status === "open") {
    const reason = h("select", { name: "reason" }, REJECTIONS.map((x) => h("option", { value: x }, words(x))));
    const reject = h("button", { type: "button", class: "danger" }, "Reject");
    reject.addEventListener("click", () => act(reject, "POST", "/fulfil", { outcome: "rejected", reason: reason.value }, "Request rejected")());
    actions.push(h("div", { class: "inline-row" }, field("Reason to reject", reason), reject));
  }
  if (r.download_url) {
    const get = h("button", { type: "button" }, "Prepare the access package");
    get.addEventListener("click", async () => {
      try {
        const body = await busy(get, () => api.tenantCall(session.tenant, "GET", `${path}/package`));
        const url = URL.createObjectURL(new Blob([JSON.stringify(body, null, 2)], { type: "application/json" }));
        out.replaceChildren(h("p", {}, h("a", { href: url, download: `access-package-${r.request_id}.json` }, "Download the access package (JSON)"),
          ` · available until ${when(r.download_expires_at)}`));
      } catch (error) { out.replaceChildren(errorText(error)); }
    });
    actions.push(h("p", {}, get));
  } else if (r.package_expired_at) {
    actions.push(h("p", { class: "muted" }, `The access package expired on ${when(r.package_expired_at)}.`));
  }
  if (actions.length) main.append(card("Act on this request", ...actions, out));
}
