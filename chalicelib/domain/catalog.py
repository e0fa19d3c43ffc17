"""The catalog of law packs in force: each jurisdiction's policy, its state overlays and the changelog.

Apart from ``jurisdictions`` (the packs' schema) because it holds the overlays, which are built on that schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from chalicelib.domain.errors import NotFound
from chalicelib.domain.jurisdictions import JurisdictionPolicy
from chalicelib.domain.overlays import Changelog, Overlay


class JurisdictionCatalog:
    """The law packs in force, by code, with their state overlays and the changelog of their values."""

    def __init__(self, policies: Mapping[str, JurisdictionPolicy],
                 overlays: Mapping[str, Overlay] | None = None, changelog: Changelog | None = None) -> None:
        for code, policy in policies.items():
            if code != policy.code:
                raise ValueError(f"catalog key {code} holds the policy of {policy.code}")
        homes = [policy.home_region for policy in policies.values()]
        if len(set(homes)) != len(homes):
            raise ValueError("two jurisdictions share a home region")
        for code, overlay in (overlays or {}).items():
            if code != overlay.code or overlay.nation not in policies:
                raise ValueError(f"overlay {code} does not belong to a jurisdiction of the catalog")
        self._policies = MappingProxyType(dict(policies))
        self._by_region = MappingProxyType({policy.home_region: policy for policy in policies.values()})
        self._overlays = MappingProxyType(dict(overlays or {}))
        self._changelog = changelog

    def get(self, code: str) -> JurisdictionPolicy:
        policy = self._policies.get(code)
        if policy is None:
            raise NotFound("no such jurisdiction")
        return policy

    def all(self) -> list[JurisdictionPolicy]:
        return [self._policies[code] for code in self.codes()]

    def codes(self) -> list[str]:
        return sorted(self._policies)

    def by_region(self, region: str) -> JurisdictionPolicy:
        """The jurisdiction whose home region this is; NotFound for any other region."""
        policy = self._by_region.get(region)
        if policy is None:
            raise NotFound("no jurisdiction has this home region")
        return policy

    def overlay(self, code: str) -> Overlay | None:
        """The overlay ``US-NY`` (nation, dash, state), or None when that state has none."""
        return self._overlays.get(code)

    def overlays_of(self, nation: str) -> list[Overlay]:
        return [self._overlays[code] for code in sorted(self._overlays) if self._overlays[code].nation == nation]

    @property
    def changelog(self) -> Changelog | None:
        return self._changelog

    def view(self, code: str) -> dict[str, Any]:
        """GET /v1/jurisdictions/{code}: the pack in force, its overlays by state and the changes of its values."""
        policy = self.get(code)
        overlays = self.overlays_of(code)
        packs = {code, *(overlay.code for overlay in overlays)}
        changes = [] if self._changelog is None else self._changelog.view(packs)
        return {**policy.public_view(), "overlays": {overlay.state: overlay.public_view() for overlay in overlays},
                "changelog": changes}
