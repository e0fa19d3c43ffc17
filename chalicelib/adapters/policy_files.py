"""Reads the jurisdiction law packs (``policies/jurisdictions/*.json``), their state overlays
(``overlays/*.json``) and the changelog of their values (``changelog/CHANGELOG.json``) into one
validated catalog.

Any problem stops start-up with a ``PolicyFileError`` that names the file and the dotted field path
(``consent.age``, ``breach[0].within_hours``); invalid JSON is reported with its line and column.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.domain.errors import PolicyFileError
from chalicelib.settings import REGIONS

if TYPE_CHECKING:  # the law packs' models are imported where a file is validated (not at start-up from the cache)
    from pydantic import ValidationError

    from chalicelib.domain.catalog import JurisdictionCatalog
    from chalicelib.domain.jurisdictions import JurisdictionPolicy
    from chalicelib.domain.overlays import Changelog, Overlay

OVERLAYS = "overlays"
CHANGELOG = Path("changelog") / "CHANGELOG.json"
ROOT_FIELD = "<document>"
"""The field name reported for problems of a whole file or folder."""


def load_jurisdictions(directory: Path) -> JurisdictionCatalog:
    """Every ``*.json`` law pack of ``directory`` with its overlays and changelog, validated together."""
    from chalicelib.domain.catalog import JurisdictionCatalog
    from chalicelib.domain.jurisdictions import JURISDICTION_CODES

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
    overlays = load_overlays(directory / OVERLAYS, policies)
    changelog = load_changelog(directory / CHANGELOG, policies, overlays)
    return JurisdictionCatalog(policies, overlays, changelog)


def load_overlays(directory: Path, policies: dict[str, JurisdictionPolicy] | None = None) -> dict[str, Overlay]:
    """Every state overlay of ``directory`` (``US-NY.json`` ...) by code; the file name must be its code,
    and (given the packs) the state one its nation's pack lists."""
    from pydantic import ValidationError

    from chalicelib.domain.jurisdictions import JURISDICTION_CODES
    from chalicelib.domain.overlays import Overlay

    overlays: dict[str, Overlay] = {}
    for path in sorted(directory.glob("*.json")):
        try:
            overlay = Overlay.model_validate(_read_json(path))
        except ValidationError as exc:
            raise _file_error(path, exc) from None
        if path.stem != overlay.code:
            raise PolicyFileError(str(path), "code", f"the file name says {path.stem} but the code is {overlay.code}")
        if overlay.nation not in JURISDICTION_CODES:
            raise PolicyFileError(str(path), "code", f"{overlay.nation} is not a jurisdiction")
        if policies is not None and overlay.state not in policies[overlay.nation].states:
            raise PolicyFileError(str(path), "code", f"{overlay.state} is not among the states of {overlay.nation}")
        overlays[overlay.code] = overlay
    return overlays


def load_changelog(path: Path, policies: dict[str, JurisdictionPolicy],
                   overlays: dict[str, Overlay]) -> Changelog:
    """The changelog (none recorded when the file is absent); each change must name a value that exists."""
    from pydantic import ValidationError

    from chalicelib.domain.overlays import Changelog, value_of

    if not path.exists():
        return Changelog()
    try:
        changelog = Changelog.model_validate(_read_json(path))
    except ValidationError as exc:
        raise _file_error(path, exc) from None
    packs: dict[str, JurisdictionPolicy | Overlay] = {**policies, **overlays}
    for n, change in enumerate(changelog.changes):
        pack = packs.get(change.pack)
        if pack is None:
            raise PolicyFileError(str(path), f"changes[{n}].pack", f"no law pack or overlay {change.pack}")
        if value_of(pack, change.value) is None:
            raise PolicyFileError(str(path), f"changes[{n}].value", f"{change.pack} has no value {change.value}")
    return changelog


def load_policy(path: Path) -> JurisdictionPolicy:
    """One file, parsed and validated; its name must be its code (``UK.json`` holds ``"code": "UK"``)."""
    from pydantic import ValidationError

    from chalicelib.domain.jurisdictions import JurisdictionPolicy

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
