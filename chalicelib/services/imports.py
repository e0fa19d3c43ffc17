"""Bulk imports: start one (an upload URL), follow it, and the worker that processes the uploaded file.

The flow: ``POST .../imports`` records the import (``awaiting_upload``, with its ``import.create`` event)
and answers a presigned PUT; the bucket's upload event reaches the worker's queue; the worker (``handle``)
reads the file, checks it as a whole, records its row count (``processing``) and sends one message per
chunk of rows; each chunk's rows are written (``ImportWriter``) and the chunk recorded with its counts,
once. When every chunk is recorded the file is deleted (every version) and the import is ``completed``
(``import.complete`` event with the counts). A file refused as a whole is deleted too (``failed``).
Messages carry identifiers only; the file is read again by each chunk, never put in a message.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from chalicelib.adapters.audit_store import AuditStore, ChangeRejected
from chalicelib.adapters.data_store import DataStore
from chalicelib.adapters.import_files import ImportBucket, ImportQueue, object_key, parse_key
from chalicelib.adapters.import_store import ImportStore
from chalicelib.domain.audit import format_at
from chalicelib.domain.catalog import JurisdictionCatalog
from chalicelib.domain.errors import NotFound, TenantOffboarding
from chalicelib.domain.ids import is_valid_id, new_id, require_id
from chalicelib.domain.imports import (
    CHUNK_ROWS,
    DUPLICATE,
    MAX_FILE_BYTES,
    TOO_LARGE,
    UNKNOWN_LEARNER,
    FileRefused,
    ImportCreate,
    Problem,
    consent_body,
    learner_body,
    read_csv,
    result_body,
)
from chalicelib.domain.learners import ResultCreate
from chalicelib.domain.tenants import Tenant
from chalicelib.domain.text import clean_text
from chalicelib.services.access import AccessControl, Directory
from chalicelib.services.context import Caller
from chalicelib.services.import_writer import Actor, ImportWriter, Outcome
from chalicelib.services.keys.tenant_keys import TenantKeyService


def imports_resource(tenant_id: str, import_id: str) -> str:
    return f"tenants/{tenant_id}/imports/{import_id}"


class ImportService:
    def __init__(self, access: AccessControl, directory: Directory, imports: ImportStore, bucket: ImportBucket,
                 queue: ImportQueue, writer: ImportWriter, store: DataStore, keys: TenantKeyService,
                 audit: AuditStore, jurisdictions: JurisdictionCatalog, clock: Callable[[], datetime],
                 region: str) -> None:
        self._region = region
        self._access = access
        self._directory = directory
        self._imports = imports
        self._bucket = bucket
        self._queue = queue
        self._writer = writer
        self._store = store
        self._keys = keys
        self._audit = audit
        self._jurisdictions = jurisdictions
        self._clock = clock

    # -- the API -------------------------------------------------------------------------------

    def create(self, caller: Caller, tenant_id: str, body: ImportCreate) -> dict[str, Any]:
        """Record the import and answer where to upload its file (presigned PUT, SSE-KMS headers)."""
        tenant = self._access.tenant(caller.principal, tenant_id, "import.create")
        self._keys.keys_for(tenant)  # fail closed now (503) rather than after the upload
        import_id = new_id("imp")
        now = format_at(self._clock())
        attributes = {"kind": body.kind, "format": body.format, "state": "awaiting_upload",
                      "mapping": json.dumps(body.mapping, sort_keys=True), "created_at": now, "updated_at": now,
                      "actor_sub": caller.principal.sub, "actor_role": caller.principal.role.value}
        changes = [self._imports.record_put(tenant.jurisdiction, tenant.tenant_id, import_id, attributes),
                   self._store.not_offboarded_check(tenant.jurisdiction, tenant.tenant_id)]
        draft = caller.draft("import.create", imports_resource(tenant.tenant_id, import_id), import_id=import_id,
                             kind=body.kind, format=body.format)
        try:
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft, changes)
        except ChangeRejected:
            raise TenantOffboarding("this tenant is being offboarded: nothing can be imported") from None
        url, headers = self._bucket.upload_url(object_key(tenant.tenant_id, import_id))
        return {"import_id": import_id, "kind": body.kind, "format": body.format, "state": "awaiting_upload",
                "created_at": now, "upload": {"method": "PUT", "url": url, "headers": headers,
                                              "max_bytes": MAX_FILE_BYTES}}

    def status(self, caller: Caller, tenant_id: str, import_id: str) -> dict[str, Any]:
        """State, counts and the error report (rows, fields, codes: no value from the file)."""
        tenant = self._access.tenant(caller.principal, tenant_id, "import.read")
        require_id(import_id, "imp", "import")
        record, problems = self._imports.record_with_problems(tenant.jurisdiction, tenant.tenant_id, import_id)
        if record is None:
            raise NotFound("no such import")
        if "problem" in record:
            problems.insert(0, json.loads(record["problem"]))
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction,
                           caller.draft("import.read", imports_resource(tenant.tenant_id, import_id),
                                        import_id=import_id))
        return import_view(import_id, record, problems)

    # -- the worker ----------------------------------------------------------------------------

    def handle(self, message: Mapping[str, Any]) -> int:
        """One queue message: the bucket's upload event, or a chunk of an import; rows written."""
        if "chunk" in message:
            return self._chunk(str(message["tenant_id"]), str(message["import_id"]), int(message["chunk"]))
        for record in message.get("Records", []):
            key = unquote_plus(str(record.get("s3", {}).get("object", {}).get("key", "")))  # S3 events encode it
            found = parse_key(key)
            if found is not None:
                self._uploaded(*found)
        return 0

    def _tenant(self, tenant_id: str) -> Tenant | None:
        tenant = self._directory.get(tenant_id) if is_valid_id(tenant_id, "tnt") else None
        return tenant if tenant is not None and tenant.home_region == self._region else None

    def _uploaded(self, tenant_id: str, import_id: str) -> None:
        tenant = self._tenant(tenant_id)
        record = self._imports.record(tenant.jurisdiction, tenant_id, import_id) if tenant else None
        if tenant is None or record is None:
            return  # an event of nothing this region knows: nothing to do
        if record["state"] not in ("awaiting_upload", "processing"):  # uploaded again after the import ended
            self._bucket.delete_all_versions(object_key(tenant_id, import_id))
            return
        try:
            rows = self._rows(record, self._bucket.read(object_key(tenant_id, import_id), MAX_FILE_BYTES))
        except FileRefused as refused:
            self._close(tenant, import_id, record, "failed", refused.problem)
            return
        if rows is None:
            return  # the file is gone: the import was closed meanwhile
        chunks = max(1, -(-len(rows) // CHUNK_ROWS))
        self._imports.start(tenant.jurisdiction, tenant_id, import_id, len(rows), chunks, format_at(self._clock()))
        self._queue.send([{"tenant_id": tenant_id, "import_id": import_id, "chunk": n} for n in range(chunks)])

    @staticmethod
    def _rows(record: Mapping[str, Any], data: bytes | None) -> list[tuple[int, dict[str, str]]] | None:
        if data is None:
            return None
        if len(data) > MAX_FILE_BYTES:
            raise FileRefused(Problem(0, "file", TOO_LARGE))
        if record["format"] == "oneroster":
            from chalicelib.domain.oneroster import read_oneroster

            return read_oneroster(data)
        return read_csv(data, record["kind"], json.loads(record.get("mapping") or "{}"))

    def _chunk(self, tenant_id: str, import_id: str, chunk: int) -> int:
        tenant = self._tenant(tenant_id)
        record = self._imports.record(tenant.jurisdiction, tenant_id, import_id) if tenant else None
        if tenant is None or record is None or record["state"] != "processing":
            return 0
        if self._imports.chunk_recorded(tenant.jurisdiction, tenant_id, import_id, chunk):
            self._maybe_complete(tenant, import_id)  # a redelivery: the counts are in; finish if it was last
            return 0
        try:
            rows = self._rows(record, self._bucket.read(object_key(tenant_id, import_id), MAX_FILE_BYTES))
        except FileRefused:
            return 0
        if rows is None:
            return 0
        actor = Actor(str(record["actor_sub"]), str(record["actor_role"]), import_id)
        try:
            outcome = self._process(tenant, actor, record["kind"], rows, chunk)
        except TenantOffboarding:
            self._close(tenant, import_id, record, "failed", Problem(0, "tenant", "tenant_offboarding"))
            return 0
        failed = len({p.row for p in outcome.problems})
        counts = {"created": outcome.created, "skipped": outcome.skipped, "failed": failed}
        self._imports.chunk_done(tenant.jurisdiction, tenant_id, import_id, chunk, counts,
                                 [p.view() for p in outcome.problems], format_at(self._clock()))
        self._maybe_complete(tenant, import_id)
        return outcome.created

    def _process(self, tenant: Tenant, actor: Actor, kind: str, rows: list[tuple[int, dict[str, str]]],
                 chunk: int) -> Outcome:
        first = chunk * CHUNK_ROWS
        mine = rows[first:first + CHUNK_ROWS]
        seen = _first_rows(rows[:first + CHUNK_ROWS], kind)
        problems: list[Problem] = []
        if kind == "learners":
            policy = self._jurisdictions.get(tenant.jurisdiction)
            today = self._clock().date()
            valid = []
            for line, values in mine:
                body = learner_body(line, values)
                consent = None if isinstance(body, list) else consent_body(line, values, body, policy, today)
                if isinstance(body, list) or isinstance(consent, list):
                    problems += body if isinstance(body, list) else consent if isinstance(consent, list) else []
                elif seen.get(_identity(kind, values)) != line:
                    problems.append(Problem(line, "email", DUPLICATE))
                else:
                    valid.append((line, body, consent))
            outcome = self._writer.learners(tenant, actor, valid)
        else:
            results = []
            for line, values in mine:
                result = result_body(line, values)
                if isinstance(result, list):
                    problems += result
                elif seen.get(_identity(kind, values)) != line:
                    problems.append(Problem(line, "assessment", DUPLICATE))
                else:
                    results.append((line, values, result))
            outcome = self._writer.results(tenant, actor, self._resolved(tenant, results, problems))
        outcome.problems = sorted([*problems, *outcome.problems], key=lambda p: (p.row, p.field))
        return outcome

    def _resolved(self, tenant: Tenant, rows: list[tuple[int, dict[str, str], ResultCreate]],
                  problems: list[Problem]) -> list[tuple[int, str, ResultCreate]]:
        """Each result row's learner: its ``learner_id``, else the one live learner with that e-mail."""
        keys = self._keys.keys_for(tenant)
        by_email: dict[str, list[str]] = {}
        out = []
        for line, values, body in rows:
            learner_id = values.get("learner_id", "")
            if not learner_id:
                email = clean_text(values.get("email", "")).lower()
                if email not in by_email:
                    by_email[email] = self._store.find_by_lookup(tenant.jurisdiction, tenant.tenant_id, "email",
                                                                 keys.blind_index_all("email", email))
                found = by_email[email]
                learner_id = found[0] if len(found) == 1 else ""
            if not is_valid_id(learner_id, "lrn"):
                problems.append(Problem(line, "learner_id" if values.get("learner_id") else "email", UNKNOWN_LEARNER))
                continue
            out.append((line, learner_id, body))
        return out

    def _maybe_complete(self, tenant: Tenant, import_id: str) -> None:
        record = self._imports.record(tenant.jurisdiction, tenant.tenant_id, import_id)
        if record is None or record["state"] != "processing" or record["chunks_done"] < record.get("chunks", 1):
            return
        self._close(tenant, import_id, record, "completed", None)

    def _close(self, tenant: Tenant, import_id: str, record: Mapping[str, Any], state: str,
               problem: Problem | None) -> None:
        """Delete the file (every version), then mark the import done with its ``import.complete`` event."""
        self._bucket.delete_all_versions(object_key(tenant.tenant_id, import_id))
        finished_at = format_at(self._clock())
        if not self._imports.finish(tenant.jurisdiction, tenant.tenant_id, import_id, state,
                                    finished_at, problem.view() if problem else None):
            return
        latest = self._imports.record(tenant.jurisdiction, tenant.tenant_id, import_id) or record
        actor = Actor(str(record["actor_sub"]), str(record["actor_role"]), import_id)
        draft = actor.draft("import.complete", imports_resource(tenant.tenant_id, import_id), state=state,
                            import_id=import_id, finished_at=finished_at,
                            **{name: int(latest.get(name, 0)) for name in ("rows", "created", "skipped", "failed")},
                            **({"problem": problem.code} if problem else {}))
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft)


def _identity(kind: str, values: Mapping[str, str]) -> str:
    if kind == "learners":
        return clean_text(values.get("email", "")).lower()
    who = values.get("learner_id") or clean_text(values.get("email", "")).lower()
    return "\x00".join((who, clean_text(values.get("assessment", "")).casefold(), values.get("taken_on", "")))


def _first_rows(rows: list[tuple[int, dict[str, str]]], kind: str) -> dict[str, int]:
    """Each identity's first row (a later row with it is a duplicate); blank identities never match."""
    first: dict[str, int] = {}
    for line, values in rows:
        identity = _identity(kind, values)
        if identity.strip("\x00"):
            first.setdefault(identity, line)
    return first


def import_view(import_id: str, record: Mapping[str, Any], problems: list[dict[str, Any]]) -> dict[str, Any]:
    rows = int(record.get("rows", 0))
    processed = int(record["created"]) + int(record["skipped"]) + int(record["failed"])
    state = str(record["state"])
    return {"import_id": import_id, "kind": record["kind"], "format": record["format"], "state": state,
            "rows": rows, "done": int(record["created"]) + int(record["skipped"]), "failed": int(record["failed"]),
            "created": int(record["created"]), "skipped": int(record["skipped"]),
            "progress": 100 if state in ("completed", "failed") else (processed * 100 // rows if rows else 0),
            "created_at": record["created_at"], "updated_at": record["updated_at"], "errors": problems}
