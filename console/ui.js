// Small DOM helpers: every value is inserted as text (never as HTML).
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function card(title, ...children) {
  const id = "h-" + title.toLowerCase().replace(/[^a-z0-9]+/g, "-");
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), ...children);
}

export function table(caption, columns, rows) {
  return h("table", {}, h("caption", { class: "muted" }, caption),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.length ? rows.map((cells) => h("tr", {}, cells.map((c, i) => h("td", { "data-label": columns[i] }, c))))
                               : h("tr", {}, h("td", { colspan: String(columns.length) }, "Nothing to show."))));
}

export function field(label, input) {
  return h("label", {}, label, input);
}

export function say(message) {
  const status = document.getElementById("status");
  status.textContent = message;
  clearTimeout(say.timer);
  say.timer = setTimeout(() => { status.textContent = ""; }, 4000);
}

export function errorText(error) {
  return h("p", { class: "error", role: "alert" }, error.message || String(error));
}

export function formValues(form) {
  return Object.fromEntries([...new FormData(form).entries()].filter(([, v]) => v !== ""));
}

export function badge(text, kind) {
  return h("span", { class: `badge ${kind}` }, text);
}

export function countdown(dueAt) {
  if (!dueAt) return "as soon as practicable";
  const ms = Date.parse(dueAt) - Date.now();
  const hours = Math.round(Math.abs(ms) / 36e5);
  const span = hours < 24 ? `${hours} h` : `${Math.floor(hours / 24)} d ${hours % 24} h`;
  return ms < 0 ? `${span} overdue` : `${span} left`;
}

// --- Dates people read, stacked tables, loading states (tenant screens; usable by any screen) ---
const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

// "4 Jan 2027, 20:40 GMT" in the user's time zone, the zone named; never seconds or microseconds.
export function when(iso) {
  if (!iso) return "—";
  const moment = new Date(iso);
  if (Number.isNaN(moment.getTime())) return String(iso);
  return new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", year: "numeric", hour: "2-digit",
    minute: "2-digit", timeZoneName: "short", timeZone: ZONE }).format(moment);
}

// A calendar day ("2026-01-01") as people write it ("1 Jan 2026"): a day, not a moment, so no zone; a full
// timestamp gives its date in the user's time zone.
export function day(text) {
  if (!text) return "—";
  if (String(text).length > 10) {
    const moment = new Date(text);
    return Number.isNaN(moment.getTime()) ? String(text) : new Intl.DateTimeFormat(undefined,
      { day: "numeric", month: "short", year: "numeric", timeZone: ZONE }).format(moment);
  }
  const [y, m, d] = String(text).slice(0, 10).split("-").map(Number);
  if (!y || !m || !d) return String(text);
  return new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" })
    .format(new Date(Date.UTC(y, m - 1, d)));
}

export function zoneName() { return ZONE; }

// A due date: the date in the user's zone and the countdown ("4 Jan 2027, 20:40 GMT · 30 d 2 h left").
export function due(iso) {
  return iso ? `${when(iso)} · ${countdown(iso)}` : countdown(iso);
}

// A table whose rows stack on a phone: each cell carries its column's name (CSS shows it as a label).
export function stackedTable(caption, columns, rows, { empty = "Nothing to show." } = {}) {
  return h("table", { class: "stack" }, h("caption", { class: "muted" }, caption),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.length
      ? rows.map((cells) => h("tr", {}, cells.map((c, i) => h("td", { "data-label": columns[i] }, c))))
      : h("tr", {}, h("td", { colspan: String(columns.length) }, empty))));
}

// Runs ``work`` (a function, or a promise already running); if it takes over 200 ms, ``target`` shows "Loading…" (and is marked busy) meanwhile.
export async function loading(target, work, label = "Loading…") {
  const note = h("p", { class: "loading muted", role: "status" }, label);
  const timer = setTimeout(() => { target.setAttribute("aria-busy", "true"); target.append(note); }, 200);
  try {
    return await (typeof work === "function" ? work() : work);
  } finally {
    clearTimeout(timer);
    target.removeAttribute("aria-busy");
    note.remove();
  }
}

// A button that is disabled and says so while its action runs (a double click does not send twice).
export async function busy(button, work) {
  const text = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  const timer = setTimeout(() => { button.textContent = `${text}…`; }, 200);
  try {
    return await work();
  } finally {
    clearTimeout(timer);
    button.textContent = text;
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

// the user's time zone, named next to every time shown (e.g. "Europe/London")
export function zone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

const SVG_NS = "http://www.w3.org/2000/svg";

// an SVG element: attributes only (the console's CSP blocks style attributes; colours come from classes)
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// each region's tenants, every page (a regional admin: its own region; a platform admin: each region)
export async function tenantsOf(api, regions) {
  const lists = await Promise.all(regions.map(async (region) => {
    const items = [];
    let cursor = null;
    for (let n = 0; n < 40; n++) {
      const page = await api.call("GET", "/v1/tenants?limit=100" + (cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""), undefined, { region });
      items.push(...page.items);
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    return items;
  }));
  return lists.flat().sort((a, b) => a.name.localeCompare(b.name) || a.tenant_id.localeCompare(b.tenant_id));
}
