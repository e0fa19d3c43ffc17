"""Comparing a trail's signed tree heads with the witness bucket's copies (pure: the copies are given).

A copy is the object S3 keeps under Object Lock for the head of that size; its first version is the
one written when the head was signed. A head of the trail is:

- ``equal``: the first version is the same head, member for member;
- ``differs``: the first version is another head of that size (the trail's head was rewritten after
  it was witnessed: two histories);
- ``missing``: nothing is witnessed at that size (the head was never witnessed, or was made up later);
- ``overwritten``: the first version matches but later versions were put on top of it (someone tried
  to replace the copy; the locked original still stands);
- ``unlocked``: the first version matches but is not under a compliance-mode lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["equal", "differs", "missing", "overwritten", "unlocked"]


@dataclass(frozen=True, slots=True)
class WitnessFinding:
    """What the witness bucket says about the trail's head of ``tree_size``."""

    tree_size: int
    status: Status
    detail: str = ""

    def line(self) -> str:
        words = {"equal": "EQUAL", "differs": "DIFFERS", "missing": "MISSING", "overwritten": "OVERWRITTEN",
                 "unlocked": "UNLOCKED"}[self.status]
        return f"{words}: tree head of size {self.tree_size}{': ' + self.detail if self.detail else ''}"


def compare_heads(heads: Iterable[Mapping[str, Any]],
                  copies: Callable[[int], Sequence[Mapping[str, Any]]]) -> list[WitnessFinding]:
    """One finding per distinct head of the trail, by size; ``copies(size)`` lists the witnessed versions,
    oldest first, each ``{"head", "lock_mode"}``. Two different heads of one size in the trail both count."""
    findings = []
    seen: set[str] = set()
    for head in sorted(heads, key=lambda h: int(h["tree_size"])):
        marker = repr(sorted(head.items()))
        if marker in seen:
            continue
        seen.add(marker)
        findings.append(_finding(head, copies(int(head["tree_size"]))))
    return findings


def _finding(head: Mapping[str, Any], versions: Sequence[Mapping[str, Any]]) -> WitnessFinding:
    size = int(head["tree_size"])
    if not versions:
        return WitnessFinding(size, "missing", "no copy in the witness bucket")
    original = versions[0]["head"]
    if dict(original) != dict(head):
        names = sorted(n for n in set(original) | set(head) if original.get(n) != head.get(n))
        return WitnessFinding(size, "differs", f"the witnessed head (signed {original.get('at')}) differs in "
                                               f"{', '.join(names)}: the trail's head was rewritten")
    if len(versions) > 1:
        return WitnessFinding(size, "overwritten", f"{len(versions) - 1} later version(s) were put over the "
                                                   f"locked copy, which still matches")
    if versions[0].get("lock_mode") != "COMPLIANCE":
        return WitnessFinding(size, "unlocked", "the copy is not under a compliance-mode Object Lock")
    return WitnessFinding(size, "equal")
