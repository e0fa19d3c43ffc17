"""The four production stages: where each runs, what it owns and how much capacity it reserves.

Everything a stage's template and IAM policy need is derived here from three sources, each the only
place its facts live:

* ``.chalice/config.json``: the stages, their regions and environment (read through ``Settings``, so
  table names, key aliases and the export bucket prefix are the ones the function itself uses);
* ``policies/jurisdictions/*.json``: which jurisdiction is homed in which region and which replica
  regions its law allows (read through the application's own loader);
* this module: the capacity of each stage and the one stage that owns the global tenant directory.

**The directory's primary stage.** A DynamoDB global table is one CloudFormation resource whose
replicas live in several regions, so exactly one stack may declare it. ``prod-use1`` does
(``DIRECTORY_STAGE``); the other stages only name the table (``enclave-directory``) in their IAM
policy and read their own region's replica. Because each replica is encrypted with that region's
``alias/enclave-data`` key, the directory's stack is deployed last (see ``DEPLOY_ORDER``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from chalicelib.adapters.policy_files import load_jurisdictions
from chalicelib.domain.jurisdictions import JurisdictionPolicy
from chalicelib.settings import REGIONS, Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHALICE_DIR = PROJECT_ROOT / ".chalice"
JURISDICTIONS_DIR = PROJECT_ROOT / "policies" / "jurisdictions"

DIRECTORY_STAGE = "prod-use1"
"""The stage whose stack declares the tenant directory global table (replicas in every home region)."""

DEPLOY_ORDER: tuple[str, ...] = ("prod-apse1", "prod-apse2", "prod-euw2", "prod-use1")
"""First deployment of an account: the directory's stack last, once every home region has its key."""


@dataclass(frozen=True)
class Capacity:
    """Lambda concurrency of one stage.

    ``reserved`` caps the API function (and guarantees it that many slots of the regional account
    limit); ``provisioned`` keeps that many execution environments initialised on the ``live`` alias
    API Gateway invokes, sized for exam-period peaks (board-exam result days, term enrolment).
    ``background_reserved`` caps every other function (scheduled retention sweeps): one at a time.
    ``snapstart`` (the default) restores published versions from a snapshot instead: Lambda allows
    one or the other, and SnapStart costs nothing while idle; ``provisioned`` applies only without it.
    """

    reserved: int
    provisioned: int
    background_reserved: int = 1
    snapstart: bool = True


CAPACITY: dict[str, Capacity] = {
    # PH: licensure board-exam results bring the largest, sharpest peaks (review centres).
    "prod-apse1": Capacity(reserved=300, provisioned=40),
    "prod-apse2": Capacity(reserved=150, provisioned=15),
    "prod-euw2": Capacity(reserved=150, provisioned=15),
    "prod-use1": Capacity(reserved=250, provisioned=30),
}


@dataclass(frozen=True)
class Stage:
    """One production stage as the deploy tooling sees it."""

    name: str
    settings: Settings
    capacity: Capacity
    app_name: str = "enclave"
    api_gateway_stage: str = "api"

    @property
    def region(self) -> str:
        return self.settings.region

    @property
    def owns_directory(self) -> bool:
        return self.name == DIRECTORY_STAGE

    @property
    def export_bucket(self) -> str:
        return self.settings.export_bucket

    @property
    def witness_bucket(self) -> str:
        return self.settings.witness_bucket

    @property
    def access_log_bucket(self) -> str:
        return f"{self.settings.export_bucket_prefix}-access-logs-{self.region}"

    @property
    def policy_file(self) -> Path:
        return CHALICE_DIR / f"policy-{self.name}.json"

    def home_jurisdictions(self) -> list[JurisdictionPolicy]:
        """The jurisdictions whose personal data and audit tables this stage's stack declares."""
        return [policy for policy in jurisdictions() if policy.home_region == self.region]


def chalice_config() -> dict[str, object]:
    loaded: dict[str, object] = json.loads((CHALICE_DIR / "config.json").read_text(encoding="utf-8"))
    return loaded


def prod_stages() -> list[str]:
    """Every stage with a capacity entry, in deployment order."""
    return list(DEPLOY_ORDER)


@cache
def load_stage(name: str) -> Stage:
    """A production stage from ``.chalice/config.json``; an unknown or non-production name is an error."""
    if name not in CAPACITY:
        raise ValueError(f"{name!r} is not a production stage (one of {', '.join(DEPLOY_ORDER)})")
    config = chalice_config()
    stages = config.get("stages")
    if not isinstance(stages, dict) or name not in stages:
        raise ValueError(f".chalice/config.json has no stage {name!r}")
    stage_config = stages[name]
    settings = Settings.from_environ(stage_config.get("environment_variables", {}))
    if settings.region not in REGIONS:
        raise ValueError(f"stage {name} runs in {settings.region}, not one of {', '.join(REGIONS)}")
    return Stage(name=name, settings=settings, capacity=CAPACITY[name], app_name=str(config["app_name"]),
                 api_gateway_stage=str(stage_config.get("api_gateway_stage", config.get("api_gateway_stage", "api"))))


def stage_of_region(region: str) -> Stage:
    for name in DEPLOY_ORDER:
        stage = load_stage(name)
        if stage.region == region:
            return stage
    raise ValueError(f"no production stage runs in {region}")


@lru_cache(maxsize=1)
def _catalog_policies() -> tuple[JurisdictionPolicy, ...]:
    return tuple(load_jurisdictions(JURISDICTIONS_DIR).all())


def jurisdictions() -> list[JurisdictionPolicy]:
    """Every law pack, validated by the application's loader (the one source of residency)."""
    return list(_catalog_policies())


def replica_regions(policy: JurisdictionPolicy) -> list[str]:
    """Where a jurisdiction's tables are replicated: its home region first, then the allowed replicas."""
    return [policy.home_region, *policy.residency.replica_regions]


def key_only_regions() -> list[str]:
    """Regions that hold a replica but run no stage: they need only the ``alias/enclave-data`` key."""
    staged = {load_stage(name).region for name in DEPLOY_ORDER}
    extra = {region for policy in jurisdictions() for region in replica_regions(policy)} - staged
    return sorted(extra)


USAGE = """usage: python -m deploy.stages region STAGE   the stage's region (Makefile)
       python -m deploy.stages key-regions    JSON list of replica-only regions (pipeline matrix)
       python -m deploy.stages stages         JSON list of the prod stages in deployment order"""


def main(argv: list[str] | None = None) -> int:
    """Facts for the Makefile and the pipeline, so that neither repeats config.json or the law packs."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    try:
        if len(args) == 2 and args[0] == "region":
            print(load_stage(args[1]).region)
        elif args == ["key-regions"]:
            print(json.dumps(key_only_regions()))
        elif args == ["stages"]:
            print(json.dumps(prod_stages()))
        else:
            print(USAGE, file=sys.stderr)
            return 2
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
