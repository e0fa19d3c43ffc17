"""``make demo`` seeds through the public API, a re-run creates nothing new, and the README walkthrough
(the commands the demo prints) works against its data.

Small: 24 learners (``python -m devtools.demo --learners N``), against the session's e2e platform.
"""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest

from chalicelib.settings import PROJECT_ROOT
from devtools.demo import SCHOOLS, WALKTHROUGH, generated_learners, seed, variables
from tests.support.platform import Platform, cli_environment

LEARNERS = 24


@pytest.fixture(scope="module")
def seeded(platform: Platform) -> dict[str, Any]:
    return seed(platform.local, learners=LEARNERS, threads=2)


def _count(platform: Platform, tenant_id: str, region: str, what: str, learner_id: str) -> int:
    staff = platform.token("tenant_staff", tenant_id)
    status, body = platform.call(region, "GET", f"/v1/tenants/{tenant_id}/learners/{learner_id}/{what}", staff)
    assert status == 200, body
    return len(body["items"] if what == "results" else body["history"])


def _learner_ids(platform: Platform, tenant_id: str, region: str) -> set[str]:
    staff, ids, cursor = platform.token("tenant_staff", tenant_id), set(), ""
    while True:
        status, body = platform.call(region, "GET", f"/v1/tenants/{tenant_id}/learners?limit=100{cursor}", staff)
        assert status == 200, body
        ids |= {item["learner_id"] for item in body["items"]}
        if not body.get("next_cursor"):
            return ids
        cursor = f"&cursor={body['next_cursor']}"


def test_the_demo_seeds_every_jurisdiction_and_a_rerun_creates_nothing(platform: Platform,
                                                                        seeded: dict[str, Any]) -> None:
    assert set(seeded["tenants"]) == set(SCHOOLS)
    assert sum(map(len, seeded["learners"].values())) == LEARNERS
    uk, first = seeded["tenants"]["UK"], seeded["learners"]["UK"][0]
    status, learner = platform.call("eu-west-2", "GET", f"/v1/tenants/{uk}/learners/{first}",
                                    platform.token("tenant_staff", uk))
    assert status == 200, learner
    invented = next(person for person in generated_learners(LEARNERS) if person.jurisdiction == "UK")
    assert (learner["family_name"], learner["email"]) == (invented.family_name, invented.email)
    assert learner["email"].endswith("@demo.example")  # a reserved-style domain: nobody's real address

    again = seed(platform.local, learners=LEARNERS, threads=2)
    assert again == seeded
    for jurisdiction, tenant_id in seeded["tenants"].items():
        region = SCHOOLS[jurisdiction][0]
        assert _learner_ids(platform, tenant_id, region) == set(seeded["learners"][jurisdiction])
    assert _count(platform, uk, "eu-west-2", "results", first) == 1
    assert _count(platform, uk, "eu-west-2", "consents", first) == 1  # learner 0: one of the one in five


def _readme_walkthrough() -> list[str]:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- demo-walkthrough -->\n```sh\n(.*?)```", readme, re.DOTALL)
    assert block, "README.md has no demo walkthrough block"
    return [line for line in block.group(1).splitlines() if line and not line.startswith(("#", "export "))]


def test_the_readme_walkthrough_works_against_the_demo_data(platform: Platform, seeded: dict[str, Any]) -> None:
    assert _readme_walkthrough() == list(WALKTHROUGH)
    script = "set -e\n" + "\n".join(f"{line}; echo" if line.startswith("curl") else line for line in WALKTHROUGH)
    env = {**cli_environment(platform.local), **variables(platform.local, seeded)}
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, cwd=PROJECT_ROOT,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    listed, learner, results, consents, overdue, verdict, incident, refused = answers
    assert len(listed["items"]) == 3
    assert learner["learner_id"] == seeded["learners"]["UK"][0]
    assert results["items"]
    assert consents["current"]["research"]["decision"] == "granted"
    assert seeded["tenants"]["UK"] in {r["tenant_id"] for r in overdue["items"]}
    assert verdict["valid"] is True
    assert incident["incident_id"] == seeded["incident"]
    assert refused["error"]["code"] == "legal_hold_active", refused
