"""Free local ports for a whole platform (emulator, four endpoints, console), for tests and benchmarks.

Ports are picked at random between 20000 and 30000, below the kernel's ephemeral range (where
outgoing connections take their source ports, so a port the kernel hands out can be taken again by
any client a moment later), and probed by binding, so a developer's ``make run`` on 5000/8001-8004
and parallel runs do not clash. Another process may still take a probed port before the platform
binds it: callers retry ``devtools.platform.start`` once on a ``PlatformError``.
"""

from __future__ import annotations

import random
import socket
import tempfile
from pathlib import Path

from chalicelib.settings import REGIONS, LocalPlatformSettings

DEFAULT_PORTS = {5000, 8001, 8002, 8003, 8004, 8008}  # a developer's `make run` (8008: its console)
HOST = "127.0.0.1"


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def ports_of(local: LocalPlatformSettings) -> list[int]:
    return [local.moto_port, *(local.port_of(region) for region in REGIONS), local.port_base + 8]  # + the console


def free_local_settings(avoid: set[int] | None = None, state_dir: Path | None = None,
                        fresh: bool = False) -> LocalPlatformSettings:
    """Settings whose emulator, endpoint and console ports are all free (and not in ``avoid``).

    The data folder is a new temporary one (never the developer's ``.enclave/``) unless given.
    """
    state_dir = state_dir or Path(tempfile.mkdtemp(prefix="enclave-local-"))
    avoid = (avoid or set()) | DEFAULT_PORTS
    rng = random.Random()  # noqa: S311 - ports, not secrets
    for _ in range(200):
        local = LocalPlatformSettings(moto_port=rng.randrange(20000, 30000), port_base=rng.randrange(20000, 30000),
                                      state_dir=state_dir, fresh=fresh)
        ports = ports_of(local)
        if len(set(ports)) == len(ports) and not avoid & set(ports) and all(map(port_is_free, ports)):
            return local
    raise RuntimeError("found no free local ports between 20000 and 30000")
