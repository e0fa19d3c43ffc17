"""What a bulk import makes of a file, before anything is written: columns, mapping, OneRoster sets, row problems."""

from __future__ import annotations

import io
import zipfile

import pytest
from pydantic import ValidationError

from chalicelib.cli.imports import progress_line
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.imports import FileRefused, ImportCreate, Problem, learner_body, read_csv, result_body
from chalicelib.domain.oneroster import read_oneroster


def zipped(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return out.getvalue()


def test_a_mapping_renames_headers_and_may_only_name_our_columns() -> None:
    rows = read_csv(b"\xef\xbb\xbfFirst,Last,Mail,Born\nAda,Lovelace,ada@example.org,2010-12-10\n\n", "learners",
                    {"First": "given_name", "Last": "family_name", "Mail": "email", "Born": "date_of_birth"})
    assert rows == [(2, {"given_name": "Ada", "family_name": "Lovelace", "email": "ada@example.org",
                         "date_of_birth": "2010-12-10"})]
    with pytest.raises(ValidationFailed):
        ImportCreate.model_validate({"kind": "learners", "mapping": {"First": "password"}})
    with pytest.raises((ValidationFailed, ValidationError)):
        ImportCreate.model_validate({"kind": "results", "format": "oneroster"})


def test_a_file_is_refused_by_column_position_or_missing_column_never_quoting_a_header() -> None:
    with pytest.raises(FileRefused) as unknown:
        read_csv(b"given_name,Secret Header\n", "learners", {})
    assert unknown.value.problem == Problem(1, "column 2", "unknown_column")
    with pytest.raises(FileRefused) as missing:
        read_csv(b"given_name,family_name,email\n", "learners", {})
    assert missing.value.problem == Problem(1, "date_of_birth", "missing_columns")
    with pytest.raises(FileRefused) as unreadable:
        read_csv(b"\xff\xfe\x00bad", "learners", {})
    assert unreadable.value.problem.code == "unreadable"


def test_row_problems_name_the_column_and_a_code() -> None:
    assert learner_body(5, {"given_name": "Ada", "family_name": "L", "email": "nope", "date_of_birth": "2010-02-30",
                            "guardian_name": "G"}) == [
        Problem(5, "email", "invalid_email"), Problem(5, "date_of_birth", "invalid_date"),
        Problem(5, "guardian_email", "missing")]
    assert result_body(3, {"learner_id": "lrn_x", "assessment": "Mock", "score": "11", "max_score": "10",
                           "taken_on": "2026-01-01"}) == [Problem(3, "score", "invalid")]
    assert result_body(4, {"assessment": "Mock", "score": "x", "max_score": "10", "taken_on": "2026-01-01"}) == [
        Problem(4, "learner_id", "missing"), Problem(4, "score", "invalid_number")]


def test_oneroster_keeps_students_only_and_finds_their_guardian() -> None:
    users = ("sourcedId,status,givenName,familyName,email,agentSourcedIds,role\n"
             "s1,active,Ada,Lovelace,ada@example.org,t1 ,student\n"  # a teacher as agent is not a guardian
             "s2,tobedeleted,Gone,Away,gone@example.org,,student\n"
             "s3,active,Mary,Shelley,mary@example.org,\"t1,p3\",student\n"
             "p3,active,Percy,Shelley,percy@example.org,,parent\n"
             "t1,active,Tess,Teacher,tess@example.org,,teacher\n")
    rows = read_oneroster(zipped({"OneRoster/users.csv": users,
                                  "demographics.csv": "sourcedId,birthDate\ns1,2010-01-02\ns3,2011-03-04\n"}))
    assert rows == [
        (2, {"given_name": "Ada", "family_name": "Lovelace", "email": "ada@example.org",
             "date_of_birth": "2010-01-02"}),
        (4, {"given_name": "Mary", "family_name": "Shelley", "email": "mary@example.org", "date_of_birth": "2011-03-04",
             "guardian_name": "Percy Shelley", "guardian_email": "percy@example.org"})]


def test_oneroster_refuses_what_is_not_a_set() -> None:
    with pytest.raises(FileRefused) as not_zip:
        read_oneroster(b"given_name\n")
    assert not_zip.value.problem.code == "unreadable"
    with pytest.raises(FileRefused) as no_users:
        read_oneroster(zipped({"orgs.csv": "sourcedId\n"}))
    assert no_users.value.problem == Problem(0, "users.csv", "missing_columns")


def test_the_progress_line_shows_rows_handled_and_failed() -> None:
    assert progress_line({"state": "processing", "progress": 50, "rows": 2000, "done": 990, "failed": 10}) == (
        "[###############...............]  50% 1,000/2,000 rows, 10 failed (processing)")
