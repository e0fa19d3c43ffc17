"""The emulator's journal (``devtools.journal``): torn records, group commit, rotation, exact replay."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from chalicelib.settings import PROJECT_ROOT
from devtools.journal import HEADER, Journal, frame
from devtools.replay import mutation


def written(folder: Path, *records: object, generation: int = 1) -> Journal:
    journal = Journal(folder)
    journal.open(generation)
    for record in records:
        journal.append(record)
    journal.close()
    return journal


def test_a_torn_last_record_is_ignored_and_appends_continue_after_the_whole_ones(tmp_path: Path) -> None:
    journal = written(tmp_path, {"n": 1}, {"n": 2})
    segment = journal.segment(1)
    whole = segment.stat().st_size
    with segment.open("ab") as file:
        file.write(frame({"n": 3})[:-4])  # the crash came mid-write: the answer was never sent
    assert list(Journal(tmp_path).records(since=0)) == [{"n": 1}, {"n": 2}]
    assert segment.stat().st_size == whole, "the torn tail is cut off"
    again = Journal(tmp_path)
    again.open(1)
    again.append({"n": 4})
    again.close()
    assert list(Journal(tmp_path).records(since=0)) == [{"n": 1}, {"n": 2}, {"n": 4}]


def test_a_torn_header_or_a_bad_checksum_ends_the_segment(tmp_path: Path) -> None:
    journal = written(tmp_path, {"n": 1})
    with journal.segment(1).open("ab") as file:
        file.write(HEADER.pack(10, 0)[:5])
    assert list(Journal(tmp_path).records(since=0)) == [{"n": 1}]
    corrupt = bytearray(frame({"n": 2}))
    corrupt[-1] ^= 0xFF
    with journal.segment(1).open("ab") as file:
        file.write(bytes(corrupt))
    assert list(Journal(tmp_path).records(since=0)) == [{"n": 1}]


def test_waiting_requests_share_one_flush(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.open(1)
    sequences = [journal.append({"n": n}) for n in range(5)]  # five requests applied, none answered yet
    journal.wait_durable(sequences[0])
    for sequence in sequences[1:]:
        journal.wait_durable(sequence)
    assert journal.syncs == 1
    journal.close()


def test_segments_a_snapshot_holds_are_not_replayed(tmp_path: Path) -> None:
    journal = written(tmp_path, {"n": 1})
    journal.open(1)
    assert journal.rotate() == 2  # what a snapshot does; it records generation 2
    journal.append({"n": 2})
    journal.close()
    assert list(Journal(tmp_path).records(since=2)) == [{"n": 2}]  # a crash before the old segment was deleted
    assert list(Journal(tmp_path).records(since=1)) == [{"n": 1}, {"n": 2}]  # before the snapshot was renamed


def test_reads_are_not_journaled_and_writes_and_unknown_actions_are() -> None:
    def target(name: str) -> dict[str, str]:
        return {"HTTP_X_AMZ_TARGET": name, "REQUEST_METHOD": "POST"}

    assert mutation(target("DynamoDB_20120810.TransactWriteItems")) == ("dynamodb", "TransactWriteItems")
    assert mutation(target("DynamoDB_20120810.Query")) is None
    assert mutation(target("TrentService.GenerateDataKey")) is None
    assert mutation(target("TrentService.ScheduleKeyDeletion")) == ("kms", "ScheduleKeyDeletion")
    assert mutation(target("AWSCognitoIdentityProviderService.InitiateAuth")) is not None
    assert mutation(target("AWSCognitoIdentityProviderService.AdminGetUser")) is None
    assert mutation(target("DynamoDB_20120810.SomethingNew")) is not None
    s3 = "AWS4-HMAC-SHA256 Credential=testing/20260101/eu-west-2/s3/aws4_request, SignedHeaders=host"
    assert mutation({"HTTP_AUTHORIZATION": s3, "REQUEST_METHOD": "PUT"}) == ("s3", "PUT")
    assert mutation({"HTTP_AUTHORIZATION": s3, "REQUEST_METHOD": "GET"}) is None


def test_replay_over_the_snapshot_reproduces_the_state_exactly(tmp_path: Path) -> None:
    """Ids moto generates, key material, times: the replayed state equals the live one, field by field."""
    done = subprocess.run([sys.executable, "-m", "tests.integration.devtools.replay_check", str(tmp_path)],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["replayed_records"] > 10, "most of the work is after the snapshot"
    assert result["differ"] == []
    assert result["decrypts"] is True
    assert result["refresh_token_known"] is True
