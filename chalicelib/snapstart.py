"""Lambda SnapStart: warm the function before its snapshot; no key or token in the snapshot or after a restore.

Before the snapshot (``register_before_snapshot``) the container builds what every first request needs
and holds no secret: the AWS clients of this region, the Cedar policy set, the signing keys (JWKS,
public) of every Cognito pool, and the body models' validators; then it drops whatever keys or tokens
the warm-up cached. After a restore (``register_after_restore``) it drops them again, so an
environment restored from one snapshot never reuses another's. Nothing needs re-seeding: ids, keys and
nonces come from ``secrets``/``os.urandom``, which Lambda keeps unique per restored environment. The
runtime hooks come from
``snapshot_restore_py``, which exists only in Lambda's Python runtime: elsewhere ``register`` does
nothing and says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Warmable(Protocol):
    """What the hooks need of the composition root (``chalicelib.composition.Container``)."""

    def forget_secrets(self) -> int: ...


def warm_up(container: Any, body_models: tuple[type[Any], ...] = ()) -> list[str]:
    """Build the clients, policy set and JWKS a first request needs; what could not be warmed (by name)."""
    steps: dict[str, Callable[[], object]] = {
        "clients": lambda: [container.clients.dynamodb(container.settings.region),
                            container.clients.kms(container.settings.region),
                            container.clients.s3(container.settings.region)],
        "directory_client": lambda: container.clients.dynamodb(container.settings.directory_region),
        "cedar": lambda: container.authorizer.prefetch(),  # noqa: PLW0108 - built inside the try
        "jwks": lambda: container.verifier.prefetch(),  # noqa: PLW0108
        "models": lambda: [model.model_rebuild(force=True) for model in body_models],
    }
    failed = []
    for name, step in steps.items():
        try:
            step()
        except Exception:  # a warm-up step that fails is done again on the first request
            log.warning("snapstart warm-up step failed", extra={"step": name})
            failed.append(name)
    return failed


def before_snapshot(container: Warmable, body_models: tuple[type[Any], ...] = ()) -> None:
    warm_up(container, body_models)
    container.forget_secrets()


def after_restore(container: Warmable) -> None:
    container.forget_secrets()


def register(container: Callable[[], Warmable],
             body_models: tuple[type[Any], ...] | Callable[[], tuple[type[Any], ...]] = ()) -> bool:
    """Register the hooks with the Lambda runtime; False (and nothing registered) off Lambda.

    ``body_models`` may be a function giving them: called in the before-snapshot hook, so that models
    imported on first use are not imported at start-up where no snapshot is taken."""
    try:
        from snapshot_restore_py import (  # type: ignore[import-not-found]
            register_after_restore,
            register_before_snapshot,
        )
    except ImportError:
        return False
    models = body_models if callable(body_models) else (lambda: body_models)
    register_before_snapshot(lambda: before_snapshot(container(), models()))
    register_after_restore(lambda: after_restore(container()))
    return True
