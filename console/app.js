// The console: sign-in, the session (token in memory, ended at expiry), navigation per role.
import { Api } from "./api.js";
import { h, field, errorText } from "./ui.js";
import { adminScreens } from "./admin.js";
import { tenantScreens } from "./tenant.js";
import { auditScreens } from "./audit.js";
import { inboxScreens, unreadCount } from "./inbox.js";

const ROLE_NAMES = { platform_admin: "Platform admin", regional_admin: "Regional admin",
  compliance_officer: "Compliance officer", tenant_admin: "Tenant admin", tenant_staff: "Tenant staff" };

const session = { token: null, role: null, tenant: null, region: null, exp: 0, timer: null,
  expired() { signOut("Your session ended: sign in again."); } };
let config = null;
let api = null;

function claims(token) {
  const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(decodeURIComponent(escape(atob(part))));
}

function begin(token, region) {
  const c = claims(token);
  Object.assign(session, { token, region, role: (c["cognito:groups"] || [])[0], tenant: c["custom:tenant_id"] || null,
    exp: c.exp * 1000, user: c["cognito:username"] || c.sub, sub: c.sub });
  clearTimeout(session.timer);
  session.timer = setTimeout(() => session.expired(), Math.max(0, session.exp - Date.now()));
  api = new Api(config, session);
  const first = "#/" + screensFor(session.role)[0].id;
  if (location.hash === first) render();
  else location.hash = first;  // the hashchange renders (rendering here too drew the first screen twice)
}

function signOut(message) {
  clearTimeout(session.timer);
  Object.assign(session, { token: null, role: null, tenant: null, exp: 0 });
  api = null;
  showSignIn(message);
}

function roleScreens(role) {
  if (role === "platform_admin" || role === "regional_admin") return adminScreens.filter((s) => !s.roles || s.roles.includes(role));
  if (role === "compliance_officer") return auditScreens;
  if (role === "tenant_admin" || role === "tenant_staff") return tenantScreens.filter((s) => !s.roles || s.roles.includes(role));
  return [];
}

function screensFor(role) {
  const screens = roleScreens(role);
  return screens.length ? [...screens, ...inboxScreens(role, config)] : screens;
}

function renderNav(screens, current) {
  const nav = document.getElementById("nav");
  nav.replaceChildren(h("ul", {}, screens.filter((s) => !s.hidden).map((s) => h("li", {},
    h("a", { href: `#/${s.id}`, "aria-current": s.id === current ? "page" : false, "data-screen": s.id }, s.title)))));
  const inboxLink = nav.querySelector('a[data-screen="inbox"]');
  // the menu's unread count, beside the link (its name stays "Inbox"); a number only, not audited
  if (inboxLink) unreadCount(api).then((n) => {
    if (n) inboxLink.after(h("span", { class: "badge count", "data-testid": "unread-count" }, `${n} unread`));
  });
  document.getElementById("who").replaceChildren(
    h("span", {}, `${session.user} · ${ROLE_NAMES[session.role] || session.role} · ${session.region}`),
    h("button", { type: "button", onclick: () => signOut("You signed out.") }, "Sign out"));
}

let rendering = 0;  // a newer render (hashchange while loading) detaches the older one's view

async function render() {
  if (!session.token) return;
  if (Date.now() >= session.exp) { session.expired(); return; }
  const generation = ++rendering;
  const screens = screensFor(session.role);
  const [id, ...rest] = location.hash.replace(/^#\//, "").split("/");
  const screen = screens.find((s) => s.id === id) || screens[0];
  renderNav(screens, screen.id);
  const main = document.getElementById("main");
  const heading = h("h1", { tabindex: "-1" }, screen.title);
  // The heading is the view's first child (screens name it: ``main.querySelector("h1")`` or ``title``); each
  // render draws into its own view, so a render a later navigation replaced finishes into a detached node.
  const view = h("div", { class: "view" }, heading);
  main.replaceChildren(view);
  if (id && screen.id !== id) view.append(h("p", { role: "status" }, `There is no page "${id}" for your role: here is ${screen.title}.`));
  document.title = `${screen.title} · Enclave console`;
  heading.focus();
  const title = (text) => { heading.textContent = text; document.title = `${text} · Enclave console`; };
  const loading = h("p", { class: "loading", role: "status" }, "Loading…");
  const slow = setTimeout(() => view.prepend(loading), 200);
  try {
    await screen.render(view, { api, session, config, args: rest.map(decodeURIComponent), rerender: render, title });
  } catch (error) {
    if (generation === rendering) view.append(errorText(error));
  } finally {
    clearTimeout(slow);
    loading.remove();
  }
}

function signInHelp() {
  // local-only:begin
  if (config.mode === "local") return "Local platform: sign in with a user of the emulator's pools.";
  // local-only:end
  return "You will sign in on your region's Cognito page.";
}

function showSignIn(message) {
  document.getElementById("nav").replaceChildren();
  document.getElementById("who").replaceChildren();
  const main = document.getElementById("main");
  const regions = Object.keys(config.pools);
  const region = h("select", { name: "region", required: true },
    regions.map((r) => h("option", { value: r, selected: r === config.default_region }, r)));
  const form = h("form", { "aria-describedby": "signin-help" }, field("Region of your account", region));
  const problem = h("div");
  // local-only:begin (make run: user name and password against the emulator's pools; not in the deployed build)
  if (config.mode === "local") {
    form.append(field("User name", h("input", { name: "username", autocomplete: "username", required: true })),
      field("Password", h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })));
  }
  // local-only:end
  form.append(h("button", { type: "submit" }, "Sign in"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.replaceChildren();
    const data = new FormData(form);
    try {
      // local-only:begin
      if (config.mode === "local") {
        const { localSignIn } = await import("./local-signin.js");
        begin(await localSignIn(config, data.get("region"), data.get("username"), data.get("password")), data.get("region"));
        return;
      }
      // local-only:end
      const { startHostedSignIn } = await import("./hosted-signin.js");
      await startHostedSignIn(config, data.get("region"));
    } catch (error) {
      problem.replaceChildren(errorText(error));
    }
  });
  main.replaceChildren(h("h1", {}, "Sign in"),
    message ? h("p", { role: "status" }, message) : "",
    h("p", { id: "signin-help", class: "muted" }, signInHelp()),
    form, problem);
  document.title = "Sign in · Enclave console";
}

async function start() {
  config = await (await fetch("config.json", { cache: "no-store" })).json();
  window.addEventListener("hashchange", render);
  if (config.mode !== "local" && location.search.includes("code=")) {
    const { finishHostedSignIn } = await import("./hosted-signin.js");
    const done = await finishHostedSignIn(config).catch(() => null);
    if (done) { begin(done.token, done.region); return; }
  }
  showSignIn();
}

start();
