"""The law packs' validated form, cached at package time so start-up need not validate them again.

``python -m chalicelib.adapters.lawpack_cache`` (run by ``make package`` and by the benchmarks)
validates ``policies/jurisdictions/*.json``, the state overlays (``overlays/*.json``) and the changelog
(``changelog/CHANGELOG.json``) exactly as start-up does (``policy_files.load_jurisdictions``: a broken
file stops it, naming file and field) and writes ``chalicelib/generated/lawpacks.json``: each pack's,
overlay's and the changelog's validated data and the SHA-256 of every source file (and of the schema's
modules). At start-up
``load_catalog`` reads the source files, and only when their digests are the ones the cache was built
from does it build the catalog from the cache without validation (``construct``, recursively through
the model's fields). Any difference (a file edited, added or removed, no cache, a cache from another schema) means full
validation, so a broken policy file still stops start-up with the same message. The loader knows
nothing of the packs' content: it follows the models' field types.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import types
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Union, get_args, get_origin

from chalicelib.adapters.policy_files import CHANGELOG, OVERLAYS, load_jurisdictions

if TYPE_CHECKING:  # the models are imported when a catalog is built (first use), not by the start-up check
    from pydantic import BaseModel

    from chalicelib.domain.catalog import JurisdictionCatalog

CACHE = Path(__file__).resolve().parent.parent / "generated" / "lawpacks.json"
FORMAT = 2
"""2: overlays and the changelog are cached too (a format-1 cache is ignored: full validation)."""
Model = TypeVar("Model", bound="BaseModel")


SCHEMA_MODULES = tuple(Path(__file__).resolve().parent.parent / "domain" / name
                       for name in ("jurisdictions.py", "overlays.py", "law_rules.py", "obligations.py"))


def source_files(directory: Path) -> list[Path]:
    """Every file the catalog is read from: packs, overlays and changelog."""
    return [*sorted(directory.glob("*.json")), *sorted((directory / OVERLAYS).glob("*.json")),
            *([directory / CHANGELOG] if (directory / CHANGELOG).exists() else [])]


def source_digests(directory: Path) -> dict[str, str]:
    """SHA-256 of each source file, by path under ``directory``, and of the schema's modules (a cache
    built for another schema is not used)."""
    digests = {path.relative_to(directory).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
               for path in source_files(directory)}
    return {**digests, **{path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in SCHEMA_MODULES}}


def build(directory: Path, target: Path = CACHE) -> JurisdictionCatalog:
    """Validate the packs of ``directory`` (raises ``PolicyFileError``) and write their cache to ``target``."""
    from chalicelib.domain.overlays import Changelog

    catalog = load_jurisdictions(directory)
    overlays = [overlay for code in catalog.codes() for overlay in catalog.overlays_of(code)]
    document = {"format": FORMAT, "sources": source_digests(directory),
                "packs": {policy.code: policy.model_dump(mode="json") for policy in catalog.all()},
                "overlays": {overlay.code: overlay.model_dump(mode="json") for overlay in overlays},
                "changelog": (catalog.changelog or Changelog()).model_dump(mode="json")}
    target.parent.mkdir(parents=True, exist_ok=True)
    written = target.with_name(f"{target.name}.{os.getpid()}.tmp")  # readers in other processes see a whole file
    written.write_text(json.dumps(document, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    os.replace(written, target)
    return catalog


def _matching(directory: Path, cache: Path) -> dict[str, Any] | None:
    """The cache's document when it was built from exactly the files now in ``directory``; else None."""
    try:
        document = json.loads(cache.read_text(encoding="utf-8"))
        sources = source_digests(directory)
    except (OSError, ValueError):
        return None
    if (not isinstance(document, dict) or document.get("format") != FORMAT or document.get("sources") != sources
            or not isinstance(document.get("packs"), dict) or not isinstance(document.get("overlays"), dict)):
        return None
    return document


def checked(directory: Path, cache: Path = CACHE) -> JurisdictionCatalog | None:
    """Start-up's check: None when ``cache`` was built from exactly these files (validated then; the catalog
    is built from it on first use), else the catalog validated now (a broken file raises ``PolicyFileError``)."""
    return None if _matching(directory, cache) is not None else load_jurisdictions(directory)


def cached(directory: Path, cache: Path = CACHE) -> JurisdictionCatalog | None:
    """The catalog from ``cache`` when it was built from exactly the files now in ``directory``; else None."""
    from chalicelib.domain.catalog import JurisdictionCatalog
    from chalicelib.domain.jurisdictions import JurisdictionPolicy
    from chalicelib.domain.overlays import Changelog, Overlay

    document = _matching(directory, cache)
    if document is None:
        return None
    try:
        return JurisdictionCatalog({code: construct(JurisdictionPolicy, data)
                                    for code, data in document["packs"].items()},
                                   {code: construct(Overlay, data) for code, data in document["overlays"].items()},
                                   construct(Changelog, document["changelog"]))
    except (TypeError, ValueError, KeyError, AttributeError):
        return None


def load_catalog(directory: Path, cache: Path = CACHE) -> JurisdictionCatalog:
    """The law packs: from the package-time cache when it matches the files, else read and validated."""
    return cached(directory, cache) or load_jurisdictions(directory)


def construct(model: type[Model], data: Mapping[str, Any]) -> Model:
    """``model`` from data it validated before (``model_dump(mode="json")``), without validating again:
    nested models, tuples and dicts are rebuilt from the field types."""
    values = {name: _value(field.annotation, data[field.alias or name])
              for name, field in model.model_fields.items() if (field.alias or name) in data}
    return model.model_construct(**values)


def _value(annotation: Any, value: Any) -> Any:
    from pydantic import BaseModel

    origin, args = get_origin(annotation), get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return construct(annotation, value)
    if origin is tuple:
        item = args[0] if args else Any
        return tuple(_value(item, v) for v in value)
    if origin is dict:
        return {k: _value(args[1], v) for k, v in value.items()}
    if origin in (Union, types.UnionType):
        if value is None:
            return None
        kinds = [a for a in args if a is not type(None)]
        if len(kinds) > 1 and isinstance(value, Mapping):  # a union of models: the one whose fields fit
            kinds = [k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)
                     and set(value) <= set(k.model_fields)] or kinds
        return _value(kinds[0], value) if len(kinds) == 1 else value
    return value


if __name__ == "__main__":
    from chalicelib.domain.errors import PolicyFileError
    from chalicelib.settings import PROJECT_ROOT

    try:
        built = build(PROJECT_ROOT / "policies" / "jurisdictions")
    except PolicyFileError as exc:
        print(f"law packs: {exc}", file=sys.stderr)
        sys.exit(1)
    states = [overlay.code for code in built.codes() for overlay in built.overlays_of(code)]
    print(f"law packs validated and cached: {', '.join(built.codes())}; overlays {', '.join(states)}; "
          f"changelog -> {CACHE}", file=sys.stderr)
