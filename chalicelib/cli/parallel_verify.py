"""Verification of a large NDJSON export on every core: lines hashed in parallel, links stitched in order.

Hashing is independent per line; only the links between lines are sequential. The event lines (all
but the manifest) are cut into chunks at line boundaries, and worker processes check each chunk on
its own: every line in the exact exported form (``chalicelib.domain.audit.fast_line``),
its SHA-256 equal to its ``hash``, its tenant the manifest's, ``seq`` and ``prev_hash`` linked to the
line before. A chunk comes back as a few hashes (first seq and prev_hash, last seq and hash, the head
at each seq the manifest has a checkpoint for); the parent feeds those, in file order, to
``ChainVerifier.feed_run``, which checks the links between chunks, the checkpoint signatures and the
end of the export. Memory stays flat: a worker holds one chunk, and at most a few chunks are in flight.

This path only ever says "valid". Any line it cannot take (not in the exported form, a broken link,
a wrong hash) makes ``verify_parallel`` answer None, and the caller verifies the file sequentially,
which names the first bad event in exactly the words it always has: a tampered file costs one more
pass, a valid one (the common case) is verified on every core.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from typing import Any, NamedTuple

from chalicelib.domain.audit import ChainVerifier, VerifyResult, fast_line
from chalicelib.domain.audit.keyset import PublishedKeys
from chalicelib.domain.audit.merkle import MerkleAccumulator

CHUNK_BYTES = 16 * 1024 * 1024  # per task: big enough to amortise the hand-off, small enough to stay flat
MIN_BYTES = 64 * 1024 * 1024  # below this (~100,000 events) one core is quicker than starting workers
MAX_LINE = 16 * 1024 * 1024  # as the sequential verifier: a longer line is its to report


class Run(NamedTuple):
    """What a worker found in one chunk of lines, all of them good and linked."""

    events: int
    first_seq: int
    prev_hash: str
    last_seq: int
    last_hash: str
    heads: dict[int, str]  # seq -> hash, at the seqs the manifest has checkpoints for
    blocks: list[tuple[int, bytes]]  # the chunk's Merkle subtrees, when the manifest has a tree head


def workers() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def chunks(path: str, end: int, size: int) -> list[tuple[int, int]] | None:
    """``(start, stop)`` byte ranges covering ``[0, end)``, each ending just after a newline; None when a
    line runs on for more than ``MAX_LINE`` bytes past a cut (the sequential verifier reports it)."""
    ranges: list[tuple[int, int]] = []
    with open(path, "rb") as handle:
        start = 0
        while start < end:
            if start + size >= end:
                ranges.append((start, end))
                break
            handle.seek(start + size)
            rest = handle.readline(MAX_LINE)
            if not rest.endswith(b"\n") and handle.tell() < end:
                return None
            stop = min(handle.tell(), end)
            ranges.append((start, stop))
            start = stop
    return ranges


def check_chunk(task: tuple[str, int, int, str, frozenset[int], int]) -> Run | None:
    """Check the lines in ``[start, stop)`` of ``path`` (a worker's job); None at the first problem.
    With ``tree_size`` (the manifest's tree head), the Merkle blocks of the lines up to that seq too."""
    path, start, stop, tenant_id, checkpoint_seqs, tree_size = task
    with open(path, "rb") as handle:
        handle.seek(start)
        data = handle.read(stop - start)
    if not data.endswith(b"\n"):
        return None
    lines = data.split(b"\n")
    lines.pop()  # what follows the last newline: nothing
    known: set[bytes] = set()
    heads: dict[int, str] = {}
    first = fast_line(lines[0], known)
    if first is None or first[0] != tenant_id or first[3] != first[4]:
        return None
    first_seq, prev_hash = first[1], first[2]
    seq, head = first_seq, first[3]
    if seq in checkpoint_seqs:
        heads[seq] = head
    tree = MerkleAccumulator(first_seq - 1) if first_seq <= tree_size else None
    if tree is not None:
        tree.add_event_hash(head)
    for line in lines[1:]:
        fields = fast_line(line, known)
        if fields is None:
            return None
        line_tenant, line_seq, line_prev, claimed, digest = fields
        seq += 1
        if line_seq != seq or line_prev != head or digest != claimed or line_tenant != tenant_id:
            return None
        head = claimed
        if seq in checkpoint_seqs:
            heads[seq] = head
        if tree is not None and seq <= tree_size:
            tree.add_event_hash(head)
    return Run(len(lines), first_seq, prev_hash, seq, head, heads, [] if tree is None else tree.blocks)


def _checked_in_order(tasks: list[tuple[Any, ...]], processes: int) -> Iterator[Run | None]:
    """``check_chunk`` of each task on ``processes`` workers, yielded in task order.

    At most two tasks per worker are submitted ahead, so memory stays flat and stopping early (a bad
    chunk) waits for those only. Workers come from a fork server, not from a fork of this process,
    which may hold other threads' locks (a fork of a threaded parent, plus ``Pool.terminate`` with a
    full task pipe, hung a test run)."""
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context(method)) as pool:
        pending: deque[Future[Run | None]] = deque()
        queued = iter(tasks)
        try:
            for task in islice(queued, 2 * processes):
                pending.append(pool.submit(check_chunk, task))
            while pending:
                yield pending.popleft().result()
                for task in islice(queued, 1):
                    pending.append(pool.submit(check_chunk, task))
        finally:
            for future in pending:
                future.cancel()


def verify_parallel(path: str, end: int, manifest: Mapping[str, Any], trusted: list[str] | None,
                    progress: Callable[[int], None], progress_every: int,
                    processes: int | None = None, chunk_bytes: int | None = None,
                    published: PublishedKeys | None = None) -> VerifyResult | None:
    """Verify the event lines in ``[0, end)`` of ``path`` on ``processes`` cores (default: all);
    the result when the export is valid, None otherwise (verify it sequentially for the reason)."""
    verifier = ChainVerifier(manifest, trusted, published)
    tenant_id = manifest.get("tenant_id")
    if not verifier.valid or type(tenant_id) is not str or end <= 0:
        return None
    checkpoint_seqs = frozenset(c["seq"] for c in manifest.get("checkpoints") or () if isinstance(c, dict))
    ranges = chunks(path, end, chunk_bytes or CHUNK_BYTES)
    if ranges is None:
        return None
    tree_head = manifest.get("tree_head")
    tree_size = tree_head.get("tree_size") if isinstance(tree_head, Mapping) else 0
    if type(tree_size) is not int:
        return None
    tasks = [(path, start, stop, tenant_id, checkpoint_seqs, tree_size) for start, stop in ranges]
    checked = 0
    for run in _checked_in_order(tasks, processes or workers()):
        if run is None or not verifier.feed_run(tenant_id, run.first_seq, run.prev_hash, run.events,
                                                run.last_hash, run.heads, run.blocks):
            return None
        if (checked + run.events) // progress_every > checked // progress_every:
            progress(checked + run.events)
        checked += run.events
    result = verifier.finish()
    return result if result.valid else None
