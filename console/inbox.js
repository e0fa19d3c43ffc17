// Every role's inbox: the alerts of the hourly reminders job for the signed-in user (requests due or overdue,
// incident deadlines, audit findings: ids, dates and counts only), marking them read, and which alerts come by
// e-mail and here. The menu shows the unread count (unreadCount). The local build adds the admins' outbox.
import { h, card, errorText, say, when, stackedTable, busy } from "./ui.js";

const KINDS = {
  "request.due_soon": "Requests due soon", "request.overdue": "Requests overdue",
  "incident.deadline_near": "Incident deadlines near", "incident.deadline_passed": "Incident deadlines passed",
  "audit.event_altered": "Audit events altered", "audit.event_missing": "Audit events missing",
};

export async function unreadCount(api) {
  try {
    return (await api.call("GET", "/v1/me/inbox/unread")).unread;
  } catch {
    return null;  // the menu shows no count rather than an error
  }
}

function what(item) {
  const parts = [item.subject_id];
  if (item.tenant_ids.length) parts.push(`tenant ${item.tenant_ids.join(", ")}`);
  return parts.join(" · ");
}

function counts(item) {
  return Object.entries(item.counts || {}).map(([k, v]) => `${k.replace(/_/g, " ")}: ${v}`).join(", ") || "—";
}

async function inbox(view, { api, rerender }) {
  const list = h("div");
  const draw = async () => {
    const page = await api.call("GET", "/v1/me/inbox");
    const rows = page.items.map((item) => [
      h("span", { class: item.read ? "" : "unread" }, item.read ? item.title : [h("strong", {}, item.title), " (new)"]),
      what(item), item.due_at ? when(item.due_at) : "—", counts(item), when(item.raised_at),
      item.read ? "Read" : h("button", { type: "button", onclick: async (event) => {
        await busy(event.target, () => api.call("POST", "/v1/me/inbox/read", { ids: [item.id] }));
        say("Marked read.");
        await rerender();
      } }, "Mark read"),
    ]);
    list.replaceChildren(h("p", { "data-testid": "unread" }, `${page.unread} unread`),
      stackedTable("Your alerts, newest first", ["Alert", "Item", "Deadline", "Counts", "Raised", ""], rows,
        { empty: "No alerts: nothing is due or wrong in your scope." }));
  };
  view.append(card("Alerts", list), settings(api));
  await draw();
}

function settings(api) {
  const body = h("div");
  api.call("GET", "/v1/me/notifications").then((prefs) => {
    const boxes = [];
    const rows = Object.entries(KINDS).map(([kind, label]) => {
      const cells = ["email", "inbox"].map((channel) => {
        const box = h("input", { type: "checkbox", checked: prefs.alerts[kind][channel],
          "aria-label": `${label} ${channel === "email" ? "by e-mail" : "in the inbox"}` });
        boxes.push([kind, channel, box]);
        return box;
      });
      return [label, ...cells];
    });
    const save = h("button", { type: "submit" }, "Save");
    const form = h("form", {}, stackedTable("Which alerts you get", ["Alert", "E-mail", "Inbox"], rows), save);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const alerts = {};
      for (const [kind, channel, box] of boxes) (alerts[kind] ||= {})[channel] = box.checked;
      try {
        await busy(save, () => api.call("PUT", "/v1/me/notifications", { alerts }));
        say("Saved.");
      } catch (error) {
        body.append(errorText(error));
      }
    });
    body.replaceChildren(form);
  }).catch((error) => body.replaceChildren(errorText(error)));
  return card("Settings", body);
}

// local-only:begin (make run: what the emulator's SES recorded)
async function outbox(view) {
  const answer = await fetch("/local/outbox", { cache: "no-store" });
  const messages = answer.ok ? await answer.json() : [];
  view.append(card("E-mails sent", h("p", { class: "muted" },
    "The e-mails the reminders job sent through the emulator's SES (local platform only)."),
  h("div", { class: "outbox" }, stackedTable("Sent, newest first", ["Region", "To", "Subject", "Text"],
    messages.reverse().map((m) => [m.region, m.to.join(", "), m.subject, h("pre", {}, m.body)])))));
}
// local-only:end

export function inboxScreens(role, config) {
  const screens = [{ id: "inbox", title: "Inbox", render: inbox }];
  // local-only:begin
  if (config.mode === "local" && (role === "platform_admin" || role === "regional_admin")) {
    screens.push({ id: "outbox", title: "Outbox", render: outbox });
  }
  // local-only:end
  return screens;
}
