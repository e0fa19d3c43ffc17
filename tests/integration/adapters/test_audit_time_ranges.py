"""Selecting the audit trail by time when ``at`` is out of ``seq`` order.

Sixteen writer threads, each standing for its own Lambda container (own AWS clients, own audit store,
own clock), land events for one tenant and seal concurrently. Their clocks are set so that ``at`` is
out of ``seq`` order whatever the interleaving: every third event of a writer is stamped 2 s ahead
(the writer's next event, chained after it, is earlier in time), and one writer's clock falls 20 s
behind now and then (further below what is already chained than the sealer's bound). Then every route
that selects by time must answer every event stamped in ``[from, to)``: exports (one contiguous run of
``seq`` that verifies, its manifest naming the requested times and the run), ``GET .../audit`` in NDJSON
and CSV, the browse route (exactly the events in range, across pages) and the incident's affected
learners.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import threading
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib import composition
from chalicelib.adapters.audit_store import AuditStore
from chalicelib.adapters.aws import AwsClients
from chalicelib.adapters.cognito_jwt import StaticKeySource
from chalicelib.cli.audit import verify_file
from chalicelib.domain.audit import AuditEventDraft, format_at
from chalicelib.domain.ids import new_id
from tests.conftest import moto_jwks
from tests.integration.api.test_audit_api import _bucket_and_key
from tests.integration.conftest import Emulated, RegionalApi, TokenFactory, regional_settings
from tests.integration.emulator import serialise_requests
from tests.integration.services.test_holds_retention import Clock

UK = "eu-west-2"
WRITERS, WRITES = 16, 30
T0 = datetime(2031, 3, 1, 9, 0, tzinfo=UTC)
AHEAD = timedelta(seconds=2)
BEHIND = timedelta(seconds=20)  # more than the sealer's bound on how far below the chain an event may be stamped
READ_AT = T0 + timedelta(days=2)  # the container's clock while reading: its own events stamped after the writers'


def stamp(writer: int, n: int) -> datetime:
    """When writer ``writer`` stamps its ``n``-th event (10 ms apart across writers, with the skews above)."""
    at = T0 + timedelta(milliseconds=10 * (n * WRITERS + writer))
    if n % 3 == 1:
        at += AHEAD
    if writer == WRITERS - 1 and n % 5 == 2:
        at -= BEHIND
    return at


def _write(tenant_id: str, writer: int, learners: dict[tuple[int, int], str]) -> None:
    client = AwsClients(max_attempts=1).dynamodb(UK)
    serialise_requests(client)
    clock = Clock(T0)
    store = AuditStore(client, lambda code: f"enclave-audit-{code.lower()}", UK, clock)
    for n in range(WRITES):
        clock.now = stamp(writer, n)
        draft = AuditEventDraft(actor_sub=f"writer-{writer}", actor_role="tenant_staff", action="learner.read",
                                resource=f"tenants/{tenant_id}/learners/{learners[writer, n]}", outcome="success",
                                request_id=f"{writer}-{n}", details={"writer": writer, "n": n})
        store.commit(tenant_id, "UK", draft)
        if n % 4 == 3:  # this container seals too (seal-on-read), racing the others
            store.seal(tenant_id, "UK")


@pytest.fixture(scope="module")
def world(emulated: Emulated, token: TokenFactory) -> dict[str, Any]:
    clock = Clock(T0 - timedelta(hours=1))
    container = composition.Container(regional_settings(UK, emulated.provisioned), clients=emulated.clients,
                                      key_source=StaticKeySource(moto_jwks()), jurisdictions=emulated.jurisdictions,
                                      clock=clock)
    app = RegionalApi(container)
    admin = token("platform_admin", region=UK)
    status, tenant = app.call("POST", "/v1/tenants", admin, {"name": "Ranges", "kind": "school", "jurisdiction": "UK"})
    assert status == 201, tenant
    tenant_id = str(tenant["tenant_id"])
    learners = {(w, n): new_id("lrn") for w in range(WRITERS) for n in range(WRITES)}
    threads = [threading.Thread(target=_write, args=(tenant_id, w, learners)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    clock.now = READ_AT
    world = {"app": app, "clock": clock, "tenant_id": tenant_id, "officer": token("compliance_officer", region=UK),
             "admin": admin, "learners": learners, "s3": emulated.clients.s3(UK)}
    chain = trail(world)
    assert len(chain) >= WRITERS * WRITES
    world["written"] = [e for e in chain if "writer" in e["details"]]
    return world


def trail(world: dict[str, Any], straggler: bool = False) -> list[dict[str, Any]]:
    """The whole chain as sealed now (everything landed so far). ``straggler``: first land an event from a
    container whose clock is behind, so the chain ends with an event stamped before the one it follows."""
    if straggler:
        store = AuditStore(world["app"].container.clients.dynamodb(UK), lambda code: f"enclave-audit-{code.lower()}",
                           UK, lambda: READ_AT - timedelta(hours=1))
        store.commit(world["tenant_id"], "UK", AuditEventDraft(
            actor_sub="straggler", actor_role="tenant_staff", action="learner.read", outcome="success",
            resource=f"tenants/{world['tenant_id']}/learners/{new_id('lrn')}", request_id="late", details={}))
    store = world["app"].container.audit_store
    store.seal(world["tenant_id"], "UK")
    chain = list(store.events(world["tenant_id"], "UK"))
    assert not straggler or chain[-1]["at"] < chain[-2]["at"]
    return chain


def in_range(chain: list[dict[str, Any]], start: str | None, end: str | None) -> list[int]:
    return [e["seq"] for e in chain if (start is None or e["at"] >= start) and (end is None or e["at"] < end)]


def inverted_later(events: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Events with a later ``seq`` stamped before them."""
    for i, event in enumerate(events):
        if any(later["at"] < event["at"] for later in events[i + 1:]):
            yield event


def inverted_earlier(events: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Events with an earlier ``seq`` stamped after them."""
    high = ""
    for event in events:
        if high > event["at"]:
            yield event
        high = max(high, event["at"])


def late(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events stamped more than ``BEHIND`` / 2 below something chained before them."""
    found, high = [], ""
    for event in events:
        if high and event["at"] < format_at(datetime.fromisoformat(high) - BEHIND / 2):
            found.append(event)
        high = max(high, event["at"])
    return found


def _plus(at: str, microseconds: int) -> str:
    return format_at(datetime.fromisoformat(at) + timedelta(microseconds=microseconds))


def _ordered(start: str, end: str) -> tuple[str, str]:
    """``(start, end)`` as a valid range: with 16 skewed writers the event chosen for ``from`` may be stamped
    after the one chosen for ``to`` (the API refuses ``from >= to`` with a 422), so the earlier comes first."""
    first, last = sorted((start, end))
    return first, last if last > first else _plus(last, 1)


def ranges(world: dict[str, Any]) -> dict[str, tuple[str | None, str | None]]:
    """Named ``(from, to)`` choices: ends at events with later seqs earlier in time (and earlier seqs
    later), around a late event, and the default."""
    written = world["written"]

    def to_at(fraction: float) -> str:
        seq = written[int(len(written) * fraction)]["seq"]
        return str(next(e for e in inverted_later(written) if e["seq"] >= seq)["at"])

    def from_at(fraction: float) -> str:
        seq = written[int(len(written) * fraction)]["seq"]
        return str([e for e in inverted_earlier(written) if e["seq"] <= seq][-1]["at"])

    late_event = late(written)[len(late(written)) // 2]
    return {
        "to_with_later_seqs_before_it": (None, to_at(0.5)),
        "from_with_earlier_seqs_after_it": (from_at(0.5), None),
        "from_and_to": _ordered(from_at(0.25), to_at(0.75)),
        "only_a_late_event": (late_event["at"], _plus(late_event["at"], 1)),
        "up_to_a_late_event": (format_at(T0 - timedelta(minutes=1)), _plus(late_event["at"], 1)),
        "default": (None, None),
    }


RANGES = ["to_with_later_seqs_before_it", "from_with_earlier_seqs_after_it", "from_and_to", "only_a_late_event",
          "up_to_a_late_event", "default"]


def _query(start: str | None, end: str | None, **more: str) -> str:
    params = {**({"from": start} if start else {}), **({"to": end} if end else {}), **more}
    return "?" + urllib.parse.urlencode(params) if params else ""


def test_writers_put_at_out_of_seq_order(world: dict[str, Any]) -> None:
    from chalicelib.domain.audit.time_range import STAMP_LAG

    written = world["written"]
    assert len(written) == WRITERS * WRITES
    assert next(inverted_later(written), None) is not None
    assert next(inverted_earlier(written), None) is not None
    assert late(written)
    assert BEHIND / 2 > STAMP_LAG  # the late events are beyond what the time index alone covers
    assert len({e["seq"] for e in written}) == len(written)


def _check_run(seqs: list[int], manifest: dict[str, Any] | None, wanted: list[int], chain: list[dict[str, Any]],
               start: str | None, end: str | None) -> None:
    assert wanted, "a range with nothing in it tests nothing"
    assert seqs == list(range(seqs[0], seqs[-1] + 1)), "an export is one contiguous run of seq"
    assert set(wanted) <= set(seqs), f"missing {sorted(set(wanted) - set(seqs))}"
    assert seqs[0] == wanted[0]  # it starts with an event in range
    if end is not None:
        assert seqs[-1] == wanted[-1]  # and ends with one
    else:
        assert seqs[-1] == chain[-1]["seq"]  # or holds every sealed event from its start on
    if manifest is not None:
        assert (manifest["first_seq"], manifest["last_seq"], manifest["events"]) == (seqs[0], seqs[-1], len(seqs))
        if start:
            assert manifest["from"] == start
        if end:
            assert manifest["to"] == end


def _get(world: dict[str, Any], query: str) -> str:
    app: RegionalApi = world["app"]
    composition.use(app.container)
    response = app._client.http.request("GET", f"/v1/tenants/{world['tenant_id']}/audit{query}",
                                        headers={"Authorization": f"Bearer {world['officer']}"})
    assert response.status_code == 200, response.body
    return response.body.decode() if isinstance(response.body, bytes) else str(response.body)


def _verified(path: Path) -> None:
    report = io.StringIO()
    assert verify_file(str(path), out=report) == 0, report.getvalue()


def _csv_seqs(text: str) -> list[int]:
    return [int(row["seq"]) for row in csv.DictReader(io.StringIO(text))]


@pytest.mark.parametrize("name", RANGES)
def test_exports_hold_every_event_of_the_range_and_verify(world: dict[str, Any], name: str, tmp_path: Path) -> None:
    start, end = ranges(world)[name]
    for fmt in ("ndjson", "csv"):
        chain = trail(world, straggler=name == "default")
        wanted = in_range(chain, start, end)
        body = {"format": fmt, **({"from": start} if start else {}), **({"to": end} if end else {})}
        status, export = world["app"].call("POST", f"/v1/tenants/{world['tenant_id']}/audit/exports",
                                           world["officer"], body)
        assert status == 201, export
        url = urllib.parse.urlparse(export["download_url"])
        bucket, key = _bucket_and_key(url)
        target = tmp_path / f"trail.{fmt}"
        text = world["s3"].get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        target.write_text(text)
        if fmt == "csv":
            manifest_text = world["s3"].get_object(Bucket=bucket, Key=key + ".manifest.json")["Body"].read().decode()
            (tmp_path / "trail.csv.manifest.json").write_text(manifest_text)
            seqs, manifest = _csv_seqs(text), json.loads(manifest_text)
            manifest = manifest.get("manifest", manifest)
        else:
            lines = [json.loads(line) for line in text.splitlines() if line]
            seqs, manifest = [e["seq"] for e in lines[:-1]], lines[-1]["manifest"]
        _check_run(seqs, manifest, wanted, chain, start, end)
        assert export["events"] == len(seqs)
        _verified(target)


@pytest.mark.parametrize("name", RANGES)
def test_get_audit_holds_every_event_of_the_range(world: dict[str, Any], name: str, tmp_path: Path) -> None:
    start, end = ranges(world)[name]
    chain = trail(world, straggler=name == "default")
    wanted = in_range(chain, start, end)
    text = _get(world, _query(start, end))
    lines = [json.loads(line) for line in text.splitlines() if line]
    _check_run([e["seq"] for e in lines[:-1]], lines[-1]["manifest"], wanted, chain, start, end)
    target = tmp_path / "trail.ndjson"
    target.write_text(text)
    _verified(target)
    chain = trail(world, straggler=name == "default")
    wanted = in_range(chain, start, end)
    _check_run(_csv_seqs(_get(world, _query(start, end, format="csv"))), None, wanted, chain, start, end)


@pytest.mark.parametrize("name", RANGES)
def test_browse_returns_exactly_the_events_of_the_range_across_pages(world: dict[str, Any], name: str) -> None:
    start, end = ranges(world)[name]
    chain = trail(world, straggler=name == "default")
    wanted = in_range(chain, start, end)
    path = f"/v1/tenants/{world['tenant_id']}/audit/events"
    seen: list[int] = []
    cursor: str | None = None
    for _ in range(100):
        status, page = world["app"].call("GET", path + _query(start, end, limit="37",
                                                              **({"cursor": cursor} if cursor else {})),
                                         world["officer"])
        assert status == 200, page
        seen += [e["seq"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    if end is None:  # the pages' own reads are recorded meanwhile, after the range was read
        seen = [seq for seq in seen if seq <= wanted[-1]]
    assert seen == wanted


@pytest.mark.parametrize("which", ["from", "to"])
def test_incident_finds_every_learner_touched_in_the_window(world: dict[str, Any], which: str) -> None:
    written = world["written"]
    middle = written[len(written) // 2]["seq"]
    if which == "to":  # recorded at the time of an event that later seqs precede
        edge = next(e for e in inverted_later(written) if e["seq"] >= middle)["at"]
        world["clock"].now = datetime.fromisoformat(edge)
        discovered, lookback = edge, 1
    else:  # the window opens at the time of an event that earlier seqs follow
        edge = [e for e in inverted_earlier(written) if e["seq"] <= middle][-1]["at"]
        world["clock"].now = READ_AT
        discovered, lookback = format_at(datetime.fromisoformat(edge) + timedelta(days=1)), 1
    try:
        chain = trail(world)
        start = format_at(datetime.fromisoformat(discovered) - timedelta(days=lookback))
        end = format_at(world["clock"].now)
        touched = {e["resource"].rsplit("/", 1)[1] for e in chain
                   if start <= e["at"] < end and "/learners/" in e["resource"]}
        assert len(touched) > 1
        status, incident = world["app"].call("POST", "/v1/incidents", world["admin"], {
            "discovered_at": discovered, "tenant_ids": [world["tenant_id"]], "summary": "laptop lost",
            "lookback_days": lookback})
        assert status == 201, incident
        assert incident["affected"]["by_tenant"][world["tenant_id"]] == sorted(touched)
    finally:
        world["clock"].now = READ_AT


def test_chain_of_the_writers_verifies_link_by_link(world: dict[str, Any]) -> None:
    chain = trail(world)
    assert [e["seq"] for e in chain] == list(range(1, len(chain) + 1))
    assert all(later["prev_hash"] == earlier["hash"] for earlier, later in itertools.pairwise(chain))


@pytest.mark.parametrize(("start", "end"), [("0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"),
                                            (None, "9999-12-31T23:59:59Z")])
def test_ranges_at_the_ends_of_the_calendar_hold_the_whole_chain(world: dict[str, Any], start: str | None,
                                                                 end: str) -> None:
    chain = trail(world)
    lines = [json.loads(line) for line in _get(world, _query(start, end)).splitlines() if line]
    assert [e["seq"] for e in lines[:-1]] == [e["seq"] for e in chain]
