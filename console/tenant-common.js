// What the tenant screens share: the learners' path, status badges, the school's entry, a learner's name.
import { badge } from "./ui.js";

export const learnersPath = (session) => `/v1/tenants/${session.tenant}/learners`;

export const STATUS_TEXT = { active: "Active", restricted: "Restricted", erased: "Erased" };

export function statusBadge(status) {
  return badge(STATUS_TEXT[status] || status, status === "active" ? "ok" : status);
}

// The signed-in user's school (its name, jurisdiction), read once per session.
const schools = new WeakMap();
export async function school(api, session) {
  if (!schools.has(session) || schools.get(session).id !== session.tenant) {
    const promise = api.tenantCall(session.tenant, "GET", `/v1/tenants/${session.tenant}`)
      .catch((error) => { schools.delete(session); throw error; });
    schools.set(session, { id: session.tenant, promise });
  }
  return schools.get(session).promise;
}

// POST .../learners/search (exact e-mail, or family name and optional given name, through blind indexes);
// an API without that route answers the older GET look-up by e-mail.
export async function findLearners(api, body) {
  const path = `${learnersPath(api.session)}/search`;
  try {
    return await api.tenantCall(api.session.tenant, "POST", path, body);
  } catch (error) {
    if (!body.email || (error.status !== undefined && error.status !== 404 && error.status !== 405)) throw error;
    return api.tenantCall(api.session.tenant, "GET", `${learnersPath(api.session)}?email=${encodeURIComponent(body.email)}`);
  }
}

export function learnerName(l) {
  return l.family_name ? `${l.given_name} ${l.family_name}` : null;
}


// A jurisdiction's law pack (consent purposes, guardian verification methods), read once.
const packs = new Map();
export function lawPack(api, code) {
  if (!packs.has(code)) {
    packs.set(code, api.call("GET", `/v1/jurisdictions/${encodeURIComponent(code)}`).catch((error) => { packs.delete(code); throw error; }));
  }
  return packs.get(code);
}

// Words for the API's enumerated values ("signed_form" → "signed form").
export function words(value) {
  return String(value ?? "—").replace(/_/g, " ");
}
