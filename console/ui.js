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
    h("tbody", {}, rows.length ? rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c))))
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
