// Helpers of the compliance officer's screens: dates in the user's zone, actors described, tables that
// stack at phone width, SVG charts (drawn with attributes: the console's CSP allows no inline style),
// loading signs and the region's tenant names.
import { h } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";
const ROLES = { platform_admin: "Platform admin", regional_admin: "Regional admin", compliance_officer: "Compliance officer",
  tenant_admin: "Tenant admin", tenant_staff: "Tenant staff", system: "The platform" };

export const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;

const dateTime = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit",
  minute: "2-digit", timeZoneName: "short" });
const dateOnly = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });
const dayKey = new Intl.DateTimeFormat("en-CA", { year: "numeric", month: "2-digit", day: "2-digit" });

// "4 Dec 2026, 14:05 GMT": minutes, never microseconds, the zone named
export function when(iso) {
  return iso ? dateTime.format(new Date(iso)) : "—";
}

export function day(iso) {
  return dateOnly.format(new Date(iso));
}

// the user's calendar day of an instant, YYYY-MM-DD (for grouping)
export function localDay(date) {
  return dayKey.format(date);
}

export function roleName(role) {
  return ROLES[role] || role;
}

// "Tenant staff · user 24e9…", or "You (Compliance officer)"; subs are random ids, never personal values
export function actorText(actor, session) {
  if (!actor) return "—";
  if (session && actor.sub === session.sub) return `You (${roleName(actor.role)})`;
  const sub = actor.sub || "";
  return `${roleName(actor.role)} · user ${sub.slice(0, 4)}…`;
}

// A table whose rows become labelled blocks at phone width (CSS: table.stack).
export function stackTable(caption, columns, rows, empty = "Nothing to show.") {
  return h("table", { class: "stack" }, h("caption", { class: "muted" }, caption),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.length
      ? rows.map((cells) => h("tr", {}, cells.map((c, i) => h("td", { "data-label": columns[i] }, c))))
      : h("tr", {}, h("td", { colspan: String(columns.length) }, empty))));
}

export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Vertical bars (one per label) scaled to the tallest; marked bars get an amber outline.
export function columnChart({ label, bars, marked = new Set(), height = 120 }) {
  const width = Math.max(1, bars.length) * 24;
  const most = Math.max(1, ...bars.map((b) => b.value));
  return svg("svg", { viewBox: `0 0 ${width} ${height + 2}`, width: "100%", height: height + 2, role: "img",
    "aria-label": label, preserveAspectRatio: "none", class: "chart" },
  svg("title", {}, label),
  bars.map((b, i) => {
    const tall = Math.max(b.value ? 2 : 0, Math.round((b.value / most) * height));
    return svg("rect", { x: i * 24 + 3, y: height - tall, width: 18, height: tall, fill: "#0b5cad",
      stroke: marked.has(b.key) ? "#b07000" : "none", "stroke-width": marked.has(b.key) ? 3 : 0 },
    svg("title", {}, `${b.label}: ${b.value}`));
  }),
  svg("line", { x1: 0, y1: height + 1, x2: width, y2: height + 1, stroke: "#cfd6de", "stroke-width": 1 }));
}

// Labelled horizontal bars (e.g. requests overdue and due soon), each with its count.
export function barList(label, rows) {
  const most = Math.max(1, ...rows.map((r) => r.value));
  return svg("svg", { viewBox: `0 0 420 ${rows.length * 24}`, width: "100%", height: rows.length * 24, role: "img",
    "aria-label": label, class: "chart bars" }, svg("title", {}, label),
  rows.map((r, i) => [
    svg("text", { x: 0, y: i * 24 + 16, fill: "#1b1f24", "font-size": 13 }, r.label),
    svg("rect", { x: 110, y: i * 24 + 4, width: Math.max(r.value ? 2 : 0, Math.round((r.value / most) * 260)), height: 16, fill: r.color }),
    svg("text", { x: 116 + Math.round((r.value / most) * 260), y: i * 24 + 16, fill: "#1b1f24", "font-size": 13 }, String(r.value)),
  ]));
}

// One horizontal bar per row: a share of a whole (e.g. learners with consent granted).
export function shareBar(part, whole, label) {
  const share = whole ? part / whole : 0;
  return svg("svg", { viewBox: "0 0 100 10", width: "120", height: "12", role: "img", "aria-label": label, class: "share" },
    svg("title", {}, label),
    svg("rect", { x: 0, y: 0, width: 100, height: 10, fill: "#e3e8ee" }),
    svg("rect", { x: 0, y: 0, width: Math.round(share * 100), height: 10, fill: "#1e6b34" }));
}

// Marks box busy while work runs and shows "text" in it once that takes over 200 ms; returns the work's result.
export async function busy(box, text, work) {
  const sign = h("p", { class: "loading", role: "status" }, text);
  box.setAttribute("aria-busy", "true");
  const timer = setTimeout(() => box.prepend(sign), 200);
  try {
    return await work();
  } finally {
    clearTimeout(timer);
    sign.remove();
    box.removeAttribute("aria-busy");
  }
}

// Every tenant homed in the officer's region (all pages), id -> tenant; kept for the session.
const directories = new WeakMap();
export function tenantsOf(api) {
  if (!directories.has(api)) {
    directories.set(api, (async () => {
      const found = new Map();
      let cursor = null;
      do {
        const page = await api.call("GET", "/v1/tenants?limit=200" + (cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""));
        for (const t of page.items) found.set(t.tenant_id, t);
        cursor = page.next_cursor;
      } while (cursor);
      return found;
    })().catch((error) => { directories.delete(api); throw error; }));
  }
  return directories.get(api);
}

export function tenantName(tenants, id) {
  const t = tenants.get(id);
  return t ? t.name : "a tenant of another region";
}
