"""The compliance rule table (docs/compliance-rules.md), generated from the law packs so it cannot drift.

Every cited rule of every pack and state overlay, with where it sits in the pack, the value it sets,
its sources and whether the research confirmed it; then the changelog (changes of the law and
corrections of the packs). ``python -m devtools.rule_table`` rewrites the file; a test checks that the
committed file equals what the packs generate.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from chalicelib.adapters.policy_files import load_jurisdictions
from chalicelib.domain.catalog import JurisdictionCatalog
from chalicelib.domain.jurisdictions import (
    BreachRule,
    CitedRule,
    Consent,
    Purpose,
    RequestRule,
    RetentionRule,
)
from chalicelib.settings import PROJECT_ROOT

TABLE_PATH = PROJECT_ROOT / "docs" / "compliance-rules.md"
_HEADER = """# Compliance rules: every value of the law packs, its source and whether it is confirmed

Generated from `policies/jurisdictions/` by `python -m devtools.rule_table` (a test fails when this file
and the packs differ). "unconfirmed": no primary source backed the value; a compliance officer should
review it. `by_sector.government`: the rule for tenants that declared the government sector.
"""


def _walk(model: BaseModel, path: str) -> Iterator[tuple[str, CitedRule]]:
    if isinstance(model, CitedRule):
        yield path, model
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, dict):
            items = list(value.items())
        elif isinstance(value, tuple):
            items = [(_breach_name(child) if isinstance(child, BreachRule) else str(n), child)
                     for n, child in enumerate(value)]
        else:
            items = [("", value)]
        for key, child in items:
            if isinstance(child, BaseModel):
                yield from _walk(child, ".".join(part for part in (path, name, key) if part))


def _breach_name(rule: BreachRule) -> str:
    return f"{rule.party}.{rule.action}"


def _value(rule: CitedRule) -> str:
    if isinstance(rule, BreachRule):
        hours = "no number of hours" if rule.within_hours is None else f"{rule.within_hours} h"
        return hours if rule.counted_from == "discovery" else f"{hours} after the notice to individuals"
    if isinstance(rule, RequestRule):
        kind = "statutory" if rule.statutory else "service level"
        return f"{rule.amount} {rule.unit.replace('_', ' ')} ({kind})"
    if isinstance(rule, RetentionRule):
        return f"{rule.days} days after {rule.after.replace('_', ' ')}"
    if isinstance(rule, Consent):
        return f"consent age {rule.age}"
    if isinstance(rule, Purpose):
        return f"{rule.lawful_basis.replace('_', ' ')}" + (", consent required" if rule.requires_consent else "")
    return ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _rows(code: str, model: BaseModel) -> list[str]:
    return [f"| {code} | `{path}` | {_cell(_value(rule))} | {_cell(rule.rule)} | {_cell('; '.join(rule.sources))} "
            f"| {rule.confidence} |" for path, rule in _walk(model, "")]


def render(catalog: JurisdictionCatalog) -> str:
    """The whole Markdown file."""
    lines = [_HEADER, "## Rules", "", "| pack | where | value | rule | sources | confidence |",
             "|---|---|---|---|---|---|"]
    for code in catalog.codes():
        lines += _rows(code, catalog.get(code))
        for overlay in catalog.overlays_of(code):
            lines += _rows(overlay.code, overlay)
    lines += ["", "## Changelog", "",
              "| effective | pack | value | kind | what changed and why | sources | confidence |",
              "|---|---|---|---|---|---|---|"]
    changes = () if catalog.changelog is None else catalog.changelog.changes
    for change in sorted(changes, key=lambda c: (c.effective, c.pack, c.value)):
        lines.append(f"| {change.effective} | {change.pack} | `{change.value}` | {change.kind} "
                     f"| {_cell(change.summary)} | {_cell('; '.join(change.sources))} | {change.confidence} |")
    return "\n".join(lines) + "\n"


def main(out: Path = TABLE_PATH) -> int:
    out.write_text(render(load_jurisdictions(PROJECT_ROOT / "policies" / "jurisdictions")), encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
