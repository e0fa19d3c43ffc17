"""The compliance rule table in docs/ is the one the law packs generate (it cannot drift from them)."""

from __future__ import annotations

from chalicelib.adapters.policy_files import load_jurisdictions
from chalicelib.settings import PROJECT_ROOT
from devtools.rule_table import TABLE_PATH, render


def test_the_committed_rule_table_is_what_the_packs_generate() -> None:
    catalog = load_jurisdictions(PROJECT_ROOT / "policies" / "jurisdictions")
    expected = render(catalog)
    assert TABLE_PATH.read_text(encoding="utf-8") == expected, "run: python -m devtools.rule_table"


def test_the_table_lists_sector_rules_corrections_and_unconfirmed_values() -> None:
    text = TABLE_PATH.read_text(encoding="utf-8")
    assert "| US-CA | `breach.individuals.notify.by_sector.government` | no number of hours |" in text
    assert "| AU | `requests.access` | 30 days (service level) |" in text
    assert "| correction |" in text
    assert "| unconfirmed |" in text
