"""The local server's route matcher answers exactly as Chalice's does for every route of the app, only faster."""

from __future__ import annotations

import re

import pytest
from chalice.local import RouteMatcher

from devtools.serve import IndexedRouteMatcher


@pytest.fixture(scope="module")
def routes() -> list[str]:
    import app

    return list(app.app.routes)


def _concrete(route: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", value, route)


def test_every_route_matches_as_chalice_matches_it(routes: list[str]) -> None:
    chalice, indexed = RouteMatcher(routes), IndexedRouteMatcher(routes)
    urls = [_concrete(route, value) for route in routes for value in ("tnt_x", "search", "export")]
    urls += [url + "/" for url in urls] + [url + "?cursor=a&limit=&cursor=b" for url in urls[:20]]
    for url in urls:
        expected = chalice.match_route(url)
        found = indexed.match_route(url)
        assert (found.route, found.query_params) == (expected.route, expected.query_params), url
        assert found.captured == {name: value for name, value in expected.captured.items()
                                  if "{" + name + "}" in found.route}, url


def test_an_unknown_path_is_refused_like_chalice_refuses_it(routes: list[str]) -> None:
    for matcher in (RouteMatcher(routes), IndexedRouteMatcher(routes)):
        with pytest.raises(ValueError, match="No matching route"):
            matcher.match_route("/v1/nowhere/at/all/today")
