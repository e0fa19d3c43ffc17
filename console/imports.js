// The tenant admin's bulk import: choose a CSV (or a OneRoster zip), upload it straight to the bucket with the
// presigned PUT the API answers, then watch the worker's progress and read the error report (rows, columns,
// codes: the report never quotes a value from the file). Formats and codes: docs/imports.md.
import { h, card, field, say, errorText, stackedTable, busy } from "./ui.js";

const CODES = {
  missing: "missing", invalid: "not valid", invalid_date: "not a valid date (YYYY-MM-DD)",
  invalid_email: "not an e-mail address", invalid_number: "not a number", duplicate: "repeats an earlier row",
  under_consent_age: "below the consent age: a guardian must decide", not_consent_based: "this purpose does not rest on consent",
  verification_invalid: "guardian verification missing or not accepted", unknown_learner: "no such learner",
  learner_unavailable: "learner erased or restricted", unknown_column: "a column this kind of file does not have",
  missing_columns: "a required column is missing", unreadable: "the file cannot be read",
  too_large: "the file is too large", tenant_offboarding: "the school is being offboarded",
};

const pause = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

function report(result) {
  const rows = result.errors.map((e) => [String(e.row), e.field, CODES[e.code] || e.code]);
  return stackedTable(`${result.errors.length} problem${result.errors.length === 1 ? "" : "s"} in the file`,
    ["Row", "Column", "Problem"], rows, { empty: "No problem: every row is in." });
}

async function follow(api, session, path, bar, status) {
  for (;;) {
    const result = await api.tenantCall(session.tenant, "GET", path);
    bar.value = result.progress;
    bar.textContent = `${result.progress}%`;
    status.textContent = `${result.progress}% — ${(result.done + result.failed).toLocaleString()} of ${result.rows.toLocaleString()} rows ` +
      `(${result.created.toLocaleString()} added, ${result.skipped.toLocaleString()} already there, ${result.failed.toLocaleString()} failed): ${result.state}`;
    if (result.state === "completed" || result.state === "failed") return result;
    await pause(500);
  }
}

export async function imports(main, { api, session }) {
  const out = h("div", { "aria-live": "polite" });
  const kind = h("select", { name: "kind" }, h("option", { value: "learners" }, "Learners"), h("option", { value: "results" }, "Results"));
  const format = h("select", { name: "format" }, h("option", { value: "csv" }, "CSV with a header"),
    h("option", { value: "oneroster" }, "OneRoster CSV set (zip)"));
  const file = h("input", { name: "file", type: "file", required: true, accept: ".csv,.zip,text/csv,application/zip" });
  const button = h("button", { type: "submit" }, "Upload and import");
  const form = h("form", { "aria-label": "Import a file" }, field("What the file holds", kind), field("Format", format),
    field("File", file), button);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = file.files[0];
    if (!chosen) return;
    const bar = h("progress", { max: "100", value: "0", "aria-label": "Import progress" }, "0%");
    const status = h("p", { role: "status" }, "Uploading…");
    out.replaceChildren(bar, status);
    try {
      await busy(button, async () => {
        const path = `/v1/tenants/${session.tenant}/imports`;
        const started = await api.tenantCall(session.tenant, "POST", path, { kind: kind.value, format: format.value });
        const put = await fetch(started.upload.url, { method: "PUT", headers: started.upload.headers, body: chosen });
        if (!put.ok) throw new Error(`The upload was refused (HTTP ${put.status}).`);
        status.textContent = "Uploaded; waiting for the import to start…";
        const result = await follow(api, session, `${path}/${started.import_id}`, bar, status);
        say(result.state === "completed" ? "Import finished" : "Import failed");
        out.append(report(result));
      });
    } catch (error) { out.append(errorText(error)); }
  });
  main.append(card("Import a file",
    h("p", { class: "muted" }, "Learners or assessment results from your student information system: a CSV with a header row, " +
      "or a OneRoster bulk set. Each row is added as if entered here (checked, encrypted, recorded in the audit trail); " +
      "rows already imported are skipped, so uploading the same file again adds nothing."),
    form, out));
}
