"""``python -m chalicelib.cli audit verify FILE``, run as a subprocess with a minimal environment.

One case per tamper kind and export format; valid exports (whole chain and a partial range);
unreadable files; key pinning; and proof that the verifier imports no AWS SDK and opens no socket.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.cli import audit as audit_cli
from tests.support import REPO
from tests.unit.domain.test_audit_chain import (
    ATTACKER_KEY,
    KEY,
    TAMPERS,
    chain,
    manifest_for,
    pem,
    rehash_from,
    tampered,
    write_csv,
    write_ndjson,
)

ROOT = REPO
FORMATS = ("ndjson", "csv")


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONPATH": str(ROOT), "HOME": str(cwd)}
    return subprocess.run([sys.executable, "-m", "chalicelib.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def verify(path: Path, *extra: str) -> tuple[int, str]:
    done = run_cli("audit", "verify", str(path), *extra)
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    return done.returncode, output


def export(tmp_path: Path, fmt: str, events: list[dict[str, object]], manifest: dict[str, object]) -> Path:
    if fmt == "csv":
        return write_csv(tmp_path / "trail.csv", events, manifest)
    return write_ndjson(tmp_path / "trail.ndjson", events, manifest)


@pytest.mark.parametrize("fmt", FORMATS)
def test_valid_export_exits_0_with_a_summary(tmp_path: Path, fmt: str) -> None:
    events = chain(10)
    code, output = verify(export(tmp_path, fmt, events, manifest_for(events)))
    assert code == 0, output
    lines = output.strip().splitlines()
    assert len(lines) == 2
    assert lines[1].startswith("WARNING: no --keys given")
    assert lines[0].startswith("VALID: 10 events (seq 1-10)")
    assert events[-1]["hash"] in lines[0]
    assert "3 signed checkpoint(s)" in lines[0]


@pytest.mark.parametrize("fmt", FORMATS)
def test_partial_range_export_with_anchor_is_valid(tmp_path: Path, fmt: str) -> None:
    events = chain(30)[11:23]
    code, output = verify(export(tmp_path, fmt, events, manifest_for(events)))
    assert code == 0, output
    assert "VALID: 12 events (seq 12-23)" in output


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", sorted(TAMPERS))
def test_each_tamper_kind_exits_1_naming_the_first_bad_event(tmp_path: Path, fmt: str, kind: str) -> None:
    events, manifest, seq, words = tampered(kind)
    code, output = verify(export(tmp_path, fmt, events, manifest))
    assert code == 1
    assert output.startswith(f"INVALID: first bad event: seq {seq}")
    assert words in output


def test_invalid_line_is_named(tmp_path: Path) -> None:
    events = chain(6)
    path = write_ndjson(tmp_path / "trail.ndjson", events, manifest_for(events))
    lines = path.read_bytes().splitlines(keepends=True)
    lines[3] = b'{"seq": 4, "garbled\n'
    path.write_bytes(b"".join(lines))
    code, output = verify(path)
    assert code == 1
    assert output.startswith("INVALID: first bad event: seq 4 (line 4)")


def test_garbled_csv_row_is_named(tmp_path: Path) -> None:
    events = chain(6)
    path = write_csv(tmp_path / "trail.csv", events, manifest_for(events))
    data = path.read_bytes()
    row = f"\r\n{events[2]['tenant_id']},3,".encode()
    assert row in data
    path.write_bytes(data.replace(row, b'\r\n"unterminated,3,', 1))
    code, output = verify(path)
    assert code == 1
    assert "seq 3 (row 4)" in output


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("make", [
    lambda p: p / "missing.ndjson",
    lambda p: p,  # a directory
    lambda p: _write(p / "empty.ndjson", b""),
    lambda p: _write(p / "blank.ndjson", b"\n\n  \n"),
    lambda p: _write(p / "noise.ndjson", os.urandom(4096)),
    lambda p: _write(p / "nomanifest.ndjson", b'{"seq": 1}\n{"seq": 2}\n'),
    lambda p: _write(p / "latin1.ndjson", b'{"manifest": "\xe9"}\n'),
    lambda p: _write(p / "nosidecar.csv", b"tenant_id\r\n"),
])
def test_unreadable_files_exit_1_without_traceback(tmp_path: Path, make: object) -> None:
    code, output = verify(make(tmp_path))  # type: ignore[operator]
    assert code == 1
    assert output.startswith("unreadable: ")


def test_truncated_manifest_is_unreadable(tmp_path: Path) -> None:
    events = chain(5)
    path = write_ndjson(tmp_path / "trail.ndjson", events, manifest_for(events))
    path.write_bytes(path.read_bytes()[:-40])
    code, output = verify(path)
    assert code == 1
    assert "unreadable" in output
    assert "manifest" in output


def test_csv_with_a_foreign_header_is_unreadable(tmp_path: Path) -> None:
    events = chain(3)
    path = write_csv(tmp_path / "trail.csv", events, manifest_for(events))
    path.write_bytes(b"a,b\r\n" + path.read_bytes())
    code, output = verify(path)
    assert code == 1
    assert "header" in output


def test_key_pinning(tmp_path: Path) -> None:
    key_file = tmp_path / "regional.pem"
    key_file.write_text(pem(KEY), encoding="ascii")
    events = chain(6)
    events[2]["outcome"] = "denied"
    rehash_from(events, 2)
    path = write_ndjson(tmp_path / "forged.ndjson", events, manifest_for(events, key=ATTACKER_KEY, key_id="k2"))
    assert verify(path)[0] == 0  # a re-signed export is self-consistent...
    code, output = verify(path, "--key", str(key_file))
    assert code == 1
    assert "seq 4" in output
    assert "untrusted key" in output
    genuine = chain(6)
    assert verify(write_ndjson(tmp_path / "ok.ndjson", genuine, manifest_for(genuine)), "--key", str(key_file))[0] == 0
    bad_key = _write(tmp_path / "bad.pem", b"not a key")
    assert verify(path, "--key", str(bad_key))[0] == 1


def test_needs_no_aws_sdk_and_no_network(tmp_path: Path) -> None:
    events = chain(8)
    path = write_ndjson(tmp_path / "trail.ndjson", events, manifest_for(events))
    script = (
        "import socket, sys\n"
        "def refuse(*a, **k): raise OSError('network used')\n"
        "socket.socket = refuse; socket.create_connection = refuse; socket.getaddrinfo = refuse\n"
        "from chalicelib.cli.__main__ import main\n"
        f"code = main(['audit', 'verify', {str(path)!r}])\n"
        "print('SDK', sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'chalice')))\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}, check=False)
    assert done.returncode == 0, done.stderr
    assert "SDK []" in done.stdout
    assert "VALID" in done.stderr


def test_progress_is_reported_for_large_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_cli, "PROGRESS_EVERY", 4)
    events = chain(9)
    for fmt in FORMATS:
        out = io.StringIO()
        assert audit_cli.verify_file(str(export(tmp_path, fmt, events, manifest_for(events))), out=out) == 0
        assert "... 4 events checked" in out.getvalue()
        assert "... 8 events checked" in out.getvalue()


def test_usage_errors_and_help() -> None:
    assert run_cli("audit", "verify").returncode == 2
    done = run_cli("--help")
    assert done.returncode == 0
    assert "audit" in done.stdout
    assert "token" in done.stdout


@pytest.mark.skipif(not (ROOT / "chalicelib" / "cli" / "token.py").exists(), reason="token CLI not written yet")
def test_token_subcommand_is_wired() -> None:
    done = run_cli("token", "--help")
    assert done.returncode == 0
    assert "--role" in done.stdout
