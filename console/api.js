// Calls to the regional APIs with the signed-in user's token (held in memory only).
// The message shown is the API's own, with each field problem of a 422 (``fields``: name and message).
export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    const fields = Array.isArray(error.fields) ? error.fields : [];
    const detail = fields.map((f) => `${f.field}: ${f.message}`).join("; ");
    super((error.message || `HTTP ${status}`) + (detail ? ` (${detail})` : ""));
    this.status = status;
    this.code = error.code;
    this.fields = fields;
    this.reason = error.reason;  // e.g. legal_hold_active, offboarding_waiting_period (a 409's why)
    this.detail = error;         // the rest of the error member (e.g. confirmable_at)
    this.details = error;  // what else the API said (restricted_at, erased_at, ...)
  }
}

export class Api {
  constructor(config, session) {
    this.config = config;
    this.session = session;
    this.homes = new Map();
  }

  base(region) {
    // local-only:begin (make run: each region on its own port)
    if (this.config.mode === "local") return this.config.regions[region || this.session.region];
    // local-only:end
    return "";  // deployed: one hostname, CloudFront routes each tenant to its home region
  }

  async home(tenantId) {
    // local-only:begin
    if (this.config.mode === "local") {
      if (!this.homes.has(tenantId)) {
        const tenant = await this.call("GET", `/v1/tenants/${tenantId}`);
        this.homes.set(tenantId, tenant.home_region);
      }
      return this.homes.get(tenantId);
    }
    // local-only:end
    return null;
  }

  async tenantCall(tenantId, method, path, body, extra = {}) {
    return this.call(method, path, body, { ...extra, region: await this.home(tenantId) });
  }

  async call(method, path, body, { region, raw, idempotent } = {}) {
    const headers = { Authorization: `Bearer ${this.session.token}` };
    // deployed: CloudFront sends a path without a tenant id to this region (tenant paths go to the tenant's home)
    if (this.config.mode !== "local") headers["X-Enclave-Region"] = region || this.session.region;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (idempotent) headers["Idempotency-Key"] = crypto.randomUUID();
    const response = await fetch(this.base(region) + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store",
    });
    if (response.status === 401) this.session.expired();
    if (raw && response.ok) return response.text();
    const text = await response.text();
    const parsed = text ? JSON.parse(text) : null;
    if (!response.ok) throw new ApiError(response.status, parsed);
    return parsed;
  }
}
