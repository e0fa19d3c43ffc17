"""``deploy.bytecode``: the deployment package carries unchecked-hash bytecode for every module."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from deploy.bytecode import add_bytecode


def _package(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("app.py", "import lib.util\nANSWER = lib.util.value()\n")
        archive.writestr("lib/__init__.py", "")
        archive.writestr("lib/util.py", "def value() -> int:\n    return 42\n")
        archive.writestr("lib/__pycache__/util.cpython-30.pyc", b"stale bytes from a developer's tree")
        archive.writestr("lib/broken.py", "def (:\n")  # a dependency's file that does not compile stays as is
        archive.writestr("policies/authz/policies.cedar", "permit(principal, action, resource);")
    return path


def test_every_module_gets_unchecked_hash_bytecode(tmp_path: Path) -> None:
    zip_path = _package(tmp_path / "deployment.zip")
    assert add_bytecode(zip_path) == 3
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
        tag = sys.implementation.cache_tag
        for module in ("app", "lib/__init__", "lib/util"):
            pyc = Path(importlib.util.cache_from_source(module + ".py")).as_posix()
            assert pyc in names, (pyc, sorted(names))
            flags = int.from_bytes(archive.read(pyc)[4:8], "little")
            assert flags == 0b01, "hash-based and not checked against the source"
        assert f"lib/__pycache__/broken.{tag}.pyc" not in names
        assert "lib/__pycache__/util.cpython-30.pyc" not in names
        assert {"lib/broken.py", "policies/authz/policies.cedar"} <= names


def test_the_unpacked_package_imports_from_bytecode_without_writing(tmp_path: Path) -> None:
    zip_path = _package(tmp_path / "deployment.zip")
    add_bytecode(zip_path)
    task = tmp_path / "task"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(task)
    (task / "lib" / "util.py").write_text("raise SystemExit('compiled from source')\n")  # unchecked: never read
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(task)}
    done = subprocess.run([sys.executable, "-c", "import app; print(app.ANSWER)"], cwd=task, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "42"
