"""Start-up: a broken law pack stops the function from starting, with a message naming file and field."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from chalicelib.settings import PROJECT_ROOT


def _start(policy_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ENCLAVE_REGION": "eu-west-2", "ENCLAVE_POLICY_DIR": str(policy_dir)}
    return subprocess.run([sys.executable, "-c", "import app"], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def test_the_real_policies_start(tmp_path: Path) -> None:
    shutil.copytree(PROJECT_ROOT / "policies", tmp_path / "policies")
    done = _start(tmp_path / "policies")
    assert done.returncode == 0, done.stderr


def test_a_broken_law_pack_stops_start_up_naming_file_and_field(tmp_path: Path) -> None:
    shutil.copytree(PROJECT_ROOT / "policies", tmp_path / "policies")
    uk = tmp_path / "policies" / "jurisdictions" / "UK.json"
    pack = json.loads(uk.read_text())
    pack["consent"]["age"] = "thirteen"
    uk.write_text(json.dumps(pack))
    done = _start(tmp_path / "policies")
    assert done.returncode != 0
    assert "UK.json" in done.stderr
    assert "consent.age" in done.stderr


def test_what_the_first_request_built_leaves_full_collections_once_and_only_once() -> None:
    script = ("import gc\nfrom chalicelib.http import freeze_long_lived\nassert gc.get_freeze_count() == 0\n"
              "freeze_long_lived()\nfrozen = gc.get_freeze_count()\nassert frozen > 10_000, frozen\n"
              "later = [[] for _ in range(1000)]\nfreeze_long_lived()\n"
              "assert gc.get_freeze_count() == frozen, 'only what the first request built is frozen'\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
