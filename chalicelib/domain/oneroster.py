"""OneRoster CSV bulk sets (1.1 and 1.2): a zip of ``users.csv``, ``demographics.csv`` and, in 1.2,
``roles.csv``, read into the rows of a learners import.

* Who is a learner: a user whose role is ``student``: the ``role`` column of ``users.csv`` (1.1) or a
  ``roles.csv`` row (1.2: ``userSourcedId``, ``role``). Users marked ``tobedeleted`` are left out.
* Names and e-mail from ``users.csv`` (``givenName``, ``familyName``, ``email``); the date of birth from
  ``demographics.csv`` (``birthDate``, the row whose ``sourcedId`` is the user's).
* The guardian: the first of the user's ``agentSourcedIds`` (comma separated) naming a user whose role is
  ``parent``, ``guardian`` or ``relative``; their name and e-mail become ``guardian_name``/``guardian_email``.

Each row's number is the student's line in ``users.csv``; a problem's field is named as OneRoster names it.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Mapping

from chalicelib.domain.imports import MAX_FILE_BYTES, MAX_ROWS, NO_HEADER, TOO_LARGE, UNREADABLE, FileRefused, Problem

GUARDIAN_ROLES = frozenset({"parent", "guardian", "relative"})
STUDENT = "student"
FIELDS = {"given_name": "givenName", "family_name": "familyName", "email": "email", "date_of_birth": "birthDate",
          "guardian_name": "agentSourcedIds", "guardian_email": "agentSourcedIds"}
"""Our column -> the OneRoster column a problem is reported on."""

_UNZIPPED_LIMIT = 4 * MAX_FILE_BYTES


def read_oneroster(data: bytes) -> list[tuple[int, dict[str, str]]]:
    """The students of a OneRoster zip as learner rows (line in users.csv, values by our column names)."""
    files = _unzip(data)
    if "users.csv" not in files:
        raise FileRefused(Problem(0, "users.csv", NO_HEADER))
    users = _table(files["users.csv"], "users.csv", ("sourcedId", "givenName", "familyName"))
    births = {row["sourcedId"]: row.get("birthDate", "")
              for _, row in _table(files.get("demographics.csv", b"sourcedId\n"), "demographics.csv", ("sourcedId",))}
    roles = _roles(users, files.get("roles.csv"))
    by_id = {row["sourcedId"]: row for _, row in users}
    rows = []
    for line, user in users:
        if user.get("status", "").lower() == "tobedeleted" or STUDENT not in roles.get(user["sourcedId"], set()):
            continue
        values = {"given_name": user.get("givenName", ""), "family_name": user.get("familyName", ""),
                  "email": user.get("email", ""), "date_of_birth": births.get(user["sourcedId"], "")}
        guardian = _guardian(user, by_id, roles)
        if guardian is not None:
            values["guardian_name"] = " ".join(filter(None, (guardian.get("givenName", "").strip(),
                                                             guardian.get("familyName", "").strip())))
            values["guardian_email"] = guardian.get("email", "")
        rows.append((line, values))
        if len(rows) > MAX_ROWS:
            raise FileRefused(Problem(0, "file", TOO_LARGE))
    return rows


def _unzip(data: bytes) -> dict[str, bytes]:
    if len(data) > MAX_FILE_BYTES:
        raise FileRefused(Problem(0, "file", TOO_LARGE))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = {info.filename.rsplit("/", 1)[-1]: info for info in archive.infolist()
                       if info.filename.rsplit("/", 1)[-1] in ("users.csv", "demographics.csv", "roles.csv")}
            if sum(info.file_size for info in members.values()) > _UNZIPPED_LIMIT:  # a zip bomb stops here
                raise FileRefused(Problem(0, "file", TOO_LARGE))
            return {name: archive.read(info) for name, info in members.items()}
    except (zipfile.BadZipFile, OSError, EOFError):
        raise FileRefused(Problem(0, "file", UNREADABLE)) from None


def _table(data: bytes, name: str, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileRefused(Problem(0, name, UNREADABLE)) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [column for column in required if column not in header]
    if missing:
        raise FileRefused(Problem(1, f"{name}:{missing[0]}", NO_HEADER))
    return [(reader.line_num, {k: (v or "").strip() for k, v in row.items() if isinstance(k, str)})
            for row in reader]


def _roles(users: list[tuple[int, dict[str, str]]], roles_csv: bytes | None) -> dict[str, set[str]]:
    """Each user's roles: 1.2's roles.csv when present, else 1.1's ``role`` column."""
    found: dict[str, set[str]] = {}
    if roles_csv is not None:
        for _, row in _table(roles_csv, "roles.csv", ("userSourcedId", "role")):
            if row.get("status", "").lower() != "tobedeleted":
                found.setdefault(row["userSourcedId"], set()).add(row["role"].lower())
        return found
    for _, user in users:
        if user.get("role"):
            found.setdefault(user["sourcedId"], set()).add(user["role"].lower())
    return found


def _guardian(user: Mapping[str, str], by_id: Mapping[str, Mapping[str, str]],
              roles: Mapping[str, set[str]]) -> Mapping[str, str] | None:
    for agent in (part.strip() for part in user.get("agentSourcedIds", "").split(",")):
        if agent in by_id and roles.get(agent, set()) & GUARDIAN_ROLES:
            return by_id[agent]
    return None
