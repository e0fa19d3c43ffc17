"""The command line of the CDK app (``python -m deploy.cdk``); ``make package`` and ``cdk.json`` run it."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from deploy.cdk.template import missing_packages
from deploy.stages import PROJECT_ROOT, prod_stages


def packaged_stages(build_dir: Path) -> list[str]:
    """The production stages with a package under ``build_dir`` (``make package STAGE=...`` ran)."""
    return [name for name in prod_stages() if (build_dir / name / "sam.json").is_file()]


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Synthesize; ``environ`` (default: this process's) may name the CDK CLI's ``CDK_OUTDIR``."""
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(prog="python -m deploy.cdk", description="Synthesize Enclave's CDK app")
    parser.add_argument("stages", nargs="*", help="production stages (default: every one packaged)")
    parser.add_argument("--build-dir", type=Path, default=PROJECT_ROOT / "build")
    parser.add_argument("--out", type=Path, help="the cloud assembly's folder")
    args = parser.parse_args(argv)
    stages = args.stages or packaged_stages(args.build_dir)
    if not stages:
        parser.error(f"no stage is packaged under {args.build_dir}: run make package STAGE=... first")
    unpackaged = missing_packages(stages, args.build_dir)
    if unpackaged:
        print("cdk synth: " + "; ".join(unpackaged), file=sys.stderr)
        return 2
    if shutil.which("node") is None:
        print("cdk synth: aws-cdk-lib runs in Node.js (jsii): install node (20 or newer) first", file=sys.stderr)
        return 1
    out = args.out or Path(env.get("CDK_OUTDIR") or args.build_dir / "cdk.out")
    from deploy.cdk.app import synth

    try:
        stacks = synth(stages, args.build_dir, out)
    except ValueError as exc:
        print(f"cdk synth: {exc}", file=sys.stderr)
        return 1
    for stack in stacks.values():
        print(f"{stack.stack_name} ({stack.region}): {stack.template_path}", file=sys.stderr)
    return 0
