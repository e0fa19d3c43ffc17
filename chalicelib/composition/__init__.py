"""The composition root: builds every adapter and service of one process, once, lazily, one module per capability
(``core``, ``audit``, ``events``, ``keys``, ``learners``, ``requests``, ``incidents``; ``base`` holds what they share).

``app.py`` asks ``container()`` for services; tests build a ``Container`` with fakes passed to its
constructor (a static JWKS, a fixed clock) and install it with ``use``. Nothing here runs at
import time except reading settings and the jurisdiction files (a broken file stops start-up).
"""

from __future__ import annotations

from chalicelib.composition.audit import AuditParts
from chalicelib.composition.base import Deferred, utc_now
from chalicelib.composition.core import Core
from chalicelib.composition.events import EventParts
from chalicelib.composition.incidents import IncidentParts
from chalicelib.composition.keys import KeyParts
from chalicelib.composition.learners import LearnerParts
from chalicelib.composition.requests import RequestParts
from chalicelib.settings import load_settings

__all__ = ["Container", "Deferred", "container", "use", "utc_now"]


class Container(Core, AuditParts, EventParts, KeyParts, LearnerParts, RequestParts, IncidentParts):
    """Owns the process's adapters and services; each is built on first use and then reused."""


_current: Container | None = None


def container() -> Container:
    """The process's container, built from the environment's settings on first use."""
    global _current  # noqa: PLW0603 - one composition root per process
    if _current is None:
        _current = Container(load_settings())
    return _current


def use(replacement: Container) -> Container:
    """Install ``replacement`` as the process's container (tests, the local platform)."""
    global _current  # noqa: PLW0603
    _current = replacement
    return replacement
