"""Reads the jurisdiction law packs (``policies/jurisdictions/*.json``) into a validated catalog.

Any problem stops start-up with a ``PolicyFileError`` that names the file and the dotted field path
(``consent.age``, ``breach[0].within_hours``); invalid JSON is reported with its line and column.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from chalicelib.domain.errors import PolicyFileError
from chalicelib.domain.jurisdictions import (
    JURISDICTION_CODES,
    JurisdictionCatalog,
    JurisdictionPolicy,
    StateOverlay,
)
from chalicelib.settings import REGIONS

ROOT_FIELD = "<document>"
"""The field name reported for problems of a whole file or folder."""


def load_jurisdictions(directory: Path) -> JurisdictionCatalog:
    """Every ``*.json`` law pack of ``directory``, validated together."""
    if not directory.is_dir():
        raise PolicyFileError(str(directory), ROOT_FIELD, "no such folder of jurisdiction files")
    policies: dict[str, JurisdictionPolicy] = {}
    homes: dict[str, str] = {}
    for path in sorted(directory.glob("*.json")):
        policy = load_policy(path)
        home = policy.home_region
        if home in homes:
            raise PolicyFileError(str(path), "residency.home_region",
                                  f"{home} is already the home region of {homes[home]}")
        homes[home] = policy.code
        policies[policy.code] = policy
    for code in JURISDICTION_CODES:
        if code not in policies:
            missing = directory / f"{code}.json"
            raise PolicyFileError(str(missing), ROOT_FIELD, f"missing the law pack of {code}")
    return JurisdictionCatalog(policies)


def load_overlays(directory: Path) -> dict[str, StateOverlay]:
    """Every state overlay of ``directory`` (``US-NY.json`` ...) by code; the file name must be its code."""
    overlays: dict[str, StateOverlay] = {}
    for path in sorted(directory.glob("*.json")):
        try:
            overlay = StateOverlay.model_validate(_read_json(path))
        except ValidationError as exc:
            raise _file_error(path, exc) from None
        if path.stem != overlay.code:
            raise PolicyFileError(str(path), "code", f"the file name says {path.stem} but the code is {overlay.code}")
        if overlay.nation not in JURISDICTION_CODES:
            raise PolicyFileError(str(path), "code", f"{overlay.nation} is not a jurisdiction")
        overlays[overlay.code] = overlay
    return overlays


def load_policy(path: Path) -> JurisdictionPolicy:
    """One file, parsed and validated; its name must be its code (``UK.json`` holds ``"code": "UK"``)."""
    data = _read_json(path)
    try:
        policy = JurisdictionPolicy.model_validate(data)
    except ValidationError as exc:
        raise _file_error(path, exc) from None
    if path.stem != policy.code:
        problem = f"the file name says {path.stem} but the code is {policy.code}"
        raise PolicyFileError(str(path), "code", problem)
    if policy.home_region not in REGIONS:
        raise PolicyFileError(str(path), "residency.home_region",
                              f"{policy.home_region} is not a deployed region ({', '.join(REGIONS)})")
    return policy


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyFileError(str(path), ROOT_FIELD, f"cannot read the file: {exc}") from None
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise PolicyFileError(str(path), ROOT_FIELD,
                              f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except _DuplicateKey as exc:
        raise PolicyFileError(str(path), ROOT_FIELD, f"duplicate key {exc.key!r} in one object") from None


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _file_error(path: Path, exc: ValidationError) -> PolicyFileError:
    """The first validation problem, with its dotted field path and a count of the others."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    problem = first["msg"]
    if len(errors) > 1:
        problem += f" (and {len(errors) - 1} more problem(s))"
    return PolicyFileError(str(path), dotted(first["loc"]), problem)


def dotted(loc: tuple[int | str, ...]) -> str:
    """``("breach", 0, "within_hours")`` as ``breach[0].within_hours``; the empty path as the document."""
    field = ""
    for part in loc:
        if isinstance(part, int):
            field += f"[{part}]"
        else:
            field += f".{part}" if field and not part.startswith("[") else part
    return field or ROOT_FIELD
