"""No import circles: every module of chalicelib imports in a fresh interpreter, and the static import graph
(every import, lazy or under TYPE_CHECKING, of chalicelib, devtools, deploy, bench and app.py) has no cycle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from chalicelib.settings import PROJECT_ROOT
from devtools.import_graph import cycles, import_graph, modules_of

IMPORT_EVERY_MODULE = """
import importlib, pkgutil, chalicelib
names = [m.name for m in pkgutil.walk_packages(chalicelib.__path__, "chalicelib.") if not m.name.endswith("__main__")]
for name in names:
    importlib.import_module(name)
print(len(names))
"""


def test_every_chalicelib_module_imports_in_a_fresh_interpreter() -> None:
    done = subprocess.run([sys.executable, "-c", IMPORT_EVERY_MODULE], cwd=PROJECT_ROOT, capture_output=True,
                          check=False, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT_ROOT)})
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 150  # every module was reached, not a handful


def test_the_project_has_no_import_cycle() -> None:
    graph = import_graph(modules_of(PROJECT_ROOT))
    assert len(graph) > 200
    assert "chalicelib.domain.overlays" in graph["chalicelib.domain.catalog"]  # the graph has the edges
    assert cycles(graph) == []


def test_a_cycle_is_found_even_through_a_lazy_import(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "first.py").write_text("from pkg.second import VALUE\n")
    (package / "second.py").write_text("VALUE = 1\n\ndef later():\n    from pkg import first\n    return first\n")
    (package / "third.py").write_text("from . import second\n")
    graph = import_graph(modules_of(tmp_path, packages=("pkg",), modules=()))
    assert graph["pkg.third"] == {"pkg.second"}
    assert cycles(graph) == [["pkg.first", "pkg.second"]]


def test_a_type_checking_import_closes_a_cycle_too(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import B\n")
    (package / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import A\n")
    assert cycles(import_graph(modules_of(tmp_path, packages=("pkg",), modules=()))) == [["pkg.a", "pkg.b"]]

