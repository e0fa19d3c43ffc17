"""The law packs' package-time cache (``chalicelib.adapters.lawpack_cache``): the same objects as
validation, used only when built from exactly the files in place; a broken file still stops start-up."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.adapters import lawpack_cache
from chalicelib.adapters.policy_files import load_jurisdictions
from chalicelib.domain.errors import PolicyFileError
from chalicelib.settings import PROJECT_ROOT

POLICY_DIR = PROJECT_ROOT / "policies" / "jurisdictions"


@pytest.fixture
def copied(tmp_path: Path) -> Path:
    shutil.copytree(PROJECT_ROOT / "policies", tmp_path / "policies")
    return tmp_path / "policies" / "jurisdictions"


def test_the_cached_form_equals_the_validated_objects(tmp_path: Path) -> None:
    cache = tmp_path / "lawpacks.json"
    lawpack_cache.build(POLICY_DIR, cache)
    from_cache, validated = lawpack_cache.cached(POLICY_DIR, cache), load_jurisdictions(POLICY_DIR)
    assert from_cache is not None
    assert from_cache.codes() == validated.codes()
    for code in validated.codes():
        assert from_cache.get(code) == validated.get(code)  # pydantic equality: type, fields, nested models
        assert from_cache.get(code).model_dump() == validated.get(code).model_dump()
        assert type(from_cache.get(code).breach) is tuple
        assert from_cache.get(code).public_view() == validated.get(code).public_view()


def test_a_changed_file_is_validated_again_and_a_broken_one_is_named(copied: Path, tmp_path: Path) -> None:
    cache = tmp_path / "lawpacks.json"
    lawpack_cache.build(copied, cache)
    assert lawpack_cache.cached(copied, cache) is not None
    uk = copied / "UK.json"
    pack = json.loads(uk.read_text())
    pack["consent"]["age"] = "thirteen"
    uk.write_text(json.dumps(pack))
    assert lawpack_cache.cached(copied, cache) is None
    with pytest.raises(PolicyFileError) as caught:
        lawpack_cache.load_catalog(copied, cache)
    assert "UK.json" in str(caught.value)
    assert "consent.age" in str(caught.value)
    with pytest.raises(PolicyFileError):
        lawpack_cache.build(copied, tmp_path / "other.json")  # the build step stops too


def test_an_added_file_or_a_damaged_cache_means_validation(copied: Path, tmp_path: Path) -> None:
    cache = tmp_path / "lawpacks.json"
    lawpack_cache.build(copied, cache)
    (copied / "XX.json").write_text("{}")
    assert lawpack_cache.cached(copied, cache) is None
    (copied / "XX.json").unlink()
    cache.write_text("{not json")
    assert lawpack_cache.cached(copied, cache) is None
    assert lawpack_cache.cached(copied, tmp_path / "missing.json") is None
    assert lawpack_cache.load_catalog(copied, cache).codes() == load_jurisdictions(copied).codes()


def test_start_up_with_the_built_cache_still_stops_on_a_broken_file(copied: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "chalicelib.adapters.lawpack_cache"], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert lawpack_cache.cached(POLICY_DIR) is not None  # the build step's output serves the real files
    us = copied / "US.json"
    pack = json.loads(us.read_text())
    pack["requests"]["access"]["amount"] = 0
    us.write_text(json.dumps(pack))
    env = {**os.environ, "ENCLAVE_REGION": "eu-west-2", "ENCLAVE_POLICY_DIR": str(copied.parent)}
    started = subprocess.run([sys.executable, "-c", "import app"], cwd=PROJECT_ROOT, env=env, capture_output=True,
                             text=True, timeout=60, check=False)
    assert started.returncode != 0
    assert "US.json" in started.stderr
    assert "requests.access.amount" in started.stderr


def test_the_cache_holds_the_overlays_and_the_changelog_as_validated(tmp_path: Path) -> None:
    cache = tmp_path / "lawpacks.json"
    lawpack_cache.build(POLICY_DIR, cache)
    document = json.loads(cache.read_text())
    assert {"overlays/US-NY.json", "overlays/AU-NSW.json", "changelog/CHANGELOG.json"} <= set(document["sources"])
    from_cache, validated = lawpack_cache.cached(POLICY_DIR, cache), load_jurisdictions(POLICY_DIR)
    assert from_cache is not None
    for code in validated.codes():
        assert from_cache.overlays_of(code) == validated.overlays_of(code)
        assert from_cache.view(code) == validated.view(code)
    assert from_cache.changelog == validated.changelog
    assert from_cache.changelog is not None
    befores = {type(change.before).__name__ for change in from_cache.changelog.changes}
    assert befores == {"BreachRule", "RequestRule", "NoneType"}  # the union rebuilt as the right model


def test_an_edited_overlay_or_changelog_means_validation_naming_file_and_field(copied: Path, tmp_path: Path) -> None:
    cache = tmp_path / "lawpacks.json"
    lawpack_cache.build(copied, cache)
    ny = copied / "overlays" / "US-NY.json"
    overlay = json.loads(ny.read_text())
    overlay["breach"][0]["within_hours"] = "sixty days"
    ny.write_text(json.dumps(overlay))
    assert lawpack_cache.cached(copied, cache) is None
    with pytest.raises(PolicyFileError) as caught:
        lawpack_cache.load_catalog(copied, cache)
    assert caught.value.path.endswith("US-NY.json")
    assert caught.value.field == "breach[0].within_hours"
    ny.write_text(json.dumps({**overlay, "breach": [{**overlay["breach"][0], "within_hours": 1440}]}))
    changelog = copied / "changelog" / "CHANGELOG.json"
    changes = json.loads(changelog.read_text())
    illinois = next(n for n, change in enumerate(changes["changes"]) if change["pack"] == "US-IL")
    changes["changes"][illinois]["value"] = "breach.regulator.assess"  # a value Illinois' overlay does not have
    changelog.write_text(json.dumps(changes))
    with pytest.raises(PolicyFileError) as caught:
        lawpack_cache.load_catalog(copied, cache)
    assert caught.value.path.endswith("CHANGELOG.json")
    assert caught.value.field == f"changes[{illinois}].value"


def test_a_broken_overlay_stops_start_up_naming_file_and_field(copied: Path) -> None:
    il = copied / "overlays" / "US-IL.json"
    overlay = json.loads(il.read_text())
    del overlay["breach"][0]["sources"]
    il.write_text(json.dumps(overlay))
    env = {**os.environ, "ENCLAVE_REGION": "eu-west-2", "ENCLAVE_POLICY_DIR": str(copied.parent)}
    started = subprocess.run([sys.executable, "-c", "import app"], cwd=PROJECT_ROOT, env=env, capture_output=True,
                             text=True, timeout=60, check=False)
    assert started.returncode != 0
    assert "US-IL.json" in started.stderr
    assert "breach[0].sources" in started.stderr
