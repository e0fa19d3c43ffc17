"""The parallel verifier (``chalicelib.cli.parallel_verify``): same verdict as the sequential one.

Chunks are made a few lines long so that every export here spans many workers' tasks; valid exports
give the sequential verifier's result, tampered ones are never called valid, and the CLI with the
parallel path forced prints exactly what it prints without it.
"""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

import pytest

from chalicelib.cli import audit as audit_cli
from chalicelib.cli import parallel_verify
from chalicelib.domain.audit import ChainVerifier, VerifyResult
from tests.unit.domain.test_audit_chain import TAMPERS, chain, manifest_for, tampered, write_ndjson

SMALL_CHUNK = 1500  # bytes: two or three lines per task


def _manifest_and_end(path: Path) -> tuple[dict[str, object], int]:
    data = path.read_bytes()
    end = data.rstrip(b"\n").rfind(b"\n") + 1
    return json.loads(data[end:])["manifest"], end


def _parallel(path: Path, processes: int = 2) -> VerifyResult | None:
    manifest, end = _manifest_and_end(path)
    reported: list[int] = []
    return parallel_verify.verify_parallel(str(path), end, manifest, None, reported.append, 4, processes=processes,
                                           chunk_bytes=SMALL_CHUNK)


def _sequential(path: Path) -> VerifyResult:
    manifest, end = _manifest_and_end(path)
    verifier = ChainVerifier(manifest)
    for line in path.read_bytes()[:end].splitlines(keepends=True):
        verifier.feed_line(line)
    return verifier.finish()


@pytest.mark.parametrize("events", [chain(40), chain(60)[17:51], chain(1)], ids=["whole", "range", "one"])
def test_valid_exports_give_the_sequential_result(tmp_path: Path, events: list[dict[str, object]]) -> None:
    path = write_ndjson(tmp_path / "trail.ndjson", events, manifest_for(events))
    result = _parallel(path)
    assert result is not None
    assert result == _sequential(path)
    assert result.valid
    assert result.events == len(events)
    assert result.checkpoints >= 1


def test_chunks_cover_the_lines_exactly(tmp_path: Path) -> None:
    path = write_ndjson(tmp_path / "trail.ndjson", chain(25), manifest_for(chain(25)))
    _, end = _manifest_and_end(path)
    data = path.read_bytes()
    ranges = parallel_verify.chunks(str(path), end, SMALL_CHUNK)
    assert ranges is not None
    assert ranges[0][0] == 0
    assert ranges[-1][1] == end
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    assert all(data[stop - 1:stop] == b"\n" for _, stop in ranges)
    assert len(ranges) > 5


@pytest.mark.parametrize("kind", sorted(TAMPERS))
def test_a_tampered_export_is_never_called_valid(tmp_path: Path, kind: str) -> None:
    events, manifest, _, _ = tampered(kind, n=30)
    assert _parallel(write_ndjson(tmp_path / "trail.ndjson", events, manifest)) is None


@pytest.mark.parametrize("kind", sorted(TAMPERS))
def test_the_cli_says_the_same_with_the_parallel_path_forced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              kind: str) -> None:
    events, manifest, seq, words = tampered(kind)
    path = str(write_ndjson(tmp_path / "trail.ndjson", events, manifest))
    sequential = io.StringIO()
    assert audit_cli.verify_file(path, out=sequential) == 1
    monkeypatch.setattr(audit_cli, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(parallel_verify, "CHUNK_BYTES", SMALL_CHUNK)
    forced = io.StringIO()
    assert audit_cli.verify_file(path, out=forced) == 1
    assert forced.getvalue() == sequential.getvalue()
    assert forced.getvalue().startswith(f"INVALID: first bad event: seq {seq}")
    assert words in forced.getvalue()


def test_the_cli_uses_every_core_on_a_valid_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events = chain(40)
    path = str(write_ndjson(tmp_path / "trail.ndjson", events, manifest_for(events)))
    monkeypatch.setattr(audit_cli, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(audit_cli, "PROGRESS_EVERY", 10)
    monkeypatch.setattr(parallel_verify, "CHUNK_BYTES", SMALL_CHUNK)
    calls: list[VerifyResult | None] = []
    original = parallel_verify.verify_parallel

    def spy(*args: object, **kwargs: object) -> VerifyResult | None:
        calls.append(original(*args, **kwargs))  # type: ignore[arg-type]
        return calls[-1]

    monkeypatch.setattr(parallel_verify, "verify_parallel", spy)
    out = io.StringIO()
    assert audit_cli.verify_file(path, out=out) == 0
    assert calls
    assert calls[0] is not None
    assert calls[0].valid
    assert "events checked" in out.getvalue()
    assert out.getvalue().splitlines()[-1].startswith("VALID: 40 events (seq 1-40)")


def test_a_line_longer_than_the_limit_past_a_cut_is_left_to_the_sequential_verifier(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events = chain(12)
    path = write_ndjson(tmp_path / "trail.ndjson", events, manifest_for(events))
    monkeypatch.setattr(parallel_verify, "MAX_LINE", 100)  # every event line is longer
    _, end = _manifest_and_end(path)
    assert parallel_verify.chunks(str(path), end, SMALL_CHUNK) is None
    assert _parallel(path) is None


def test_a_line_off_the_exported_form_falls_back_and_still_verifies(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    events = chain(12)
    path = write_ndjson(tmp_path / "trail.ndjson", events, manifest_for(events))
    lines = path.read_bytes().splitlines(keepends=True)
    lines[5] = json.dumps(json.loads(lines[5]), indent=None).encode() + b"\n"  # spaces: same event, other form
    path.write_bytes(b"".join(lines))
    assert _parallel(path) is None
    monkeypatch.setattr(audit_cli, "PARALLEL_MIN_BYTES", 0)
    out = io.StringIO()
    assert audit_cli.verify_file(str(path), out=out) == 0, out.getvalue()
