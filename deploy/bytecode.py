"""Precompiled bytecode in the deployment package (``make package`` runs it on ``deployment.zip``).

Lambda unpacks the package into a read-only ``/var/task``: Python cannot write ``__pycache__`` there,
so without bytecode in the zip every cold start compiles every module it imports from source (the
app's and every dependency's: Chalice installs them from wheels, which carry no bytecode). This step
compiles every ``.py`` of the zip with the interpreter that packaged it (run it with the runtime's
Python, 3.12: other versions' bytecode is ignored) into ``unchecked-hash`` pyc files, which Python uses
without comparing them with the source (the zip's timestamps are not kept exactly), and drops any
``__pycache__`` the project tree brought along. Tracebacks name ``/var/task/...`` as in Lambda.

``python -m deploy.bytecode build/prod-euw2/deployment.zip``.
"""

from __future__ import annotations

import compileall
import py_compile
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

TASK_ROOT = "/var/task"


def add_bytecode(zip_path: Path) -> int:
    """Rewrite ``zip_path`` with a pyc beside every module that compiles; how many pyc files it holds."""
    with tempfile.TemporaryDirectory() as folder:
        tree = Path(folder) / "task"
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(tree)
        for stale in [p for p in tree.rglob("__pycache__") if p.is_dir()]:
            shutil.rmtree(stale)
        compileall.compile_dir(tree, quiet=2, ddir=TASK_ROOT, workers=1,
                               invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        rebuilt = zip_path.with_suffix(".tmp")
        compiled = 0
        with zipfile.ZipFile(rebuilt, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(p for p in tree.rglob("*") if p.is_file()):
                archive.write(path, path.relative_to(tree).as_posix())
                compiled += path.suffix == ".pyc"
        rebuilt.replace(zip_path)
    return compiled


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m deploy.bytecode DEPLOYMENT_ZIP", file=sys.stderr)
        return 2
    count = add_bytecode(Path(args[0]))
    tag = sys.implementation.cache_tag
    print(f"{args[0]}: {count} modules precompiled ({tag}, unchecked-hash)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
