"""One cold start: ``python bench/cold_child.py APP_DIR EVENT_FILE`` imports APP_DIR/app.py and serves the event.

Run as a script in a fresh process (no ``bench`` imports, nothing warm): times ``import app`` and
the first ``app.app(event, context)`` call as Lambda would make them, prints one JSON line with the
figures and the response's status code.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402


class LambdaContext:
    """The attributes a Lambda context object has."""

    function_name = "enclave-cold-start"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:enclave-cold-start"
    memory_limit_in_mb = 1024
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/enclave-cold-start"
    log_stream_name = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def main(app_dir: str, event_file: str) -> dict[str, Any]:
    with open(event_file, encoding="utf-8") as handle:
        event = json.load(handle)
    sys.path.insert(0, app_dir)
    before_import = time.perf_counter()
    import app  # the app under test: Enclave's or the bare baseline's

    if os.environ.get("BENCH_SNAPSTART"):  # what Lambda runs before taking the snapshot (not timed)
        from chalicelib import snapstart
        from chalicelib.composition import container

        snapstart.before_snapshot(container(), tuple(s.body for s in app.api.specs if s.body is not None))
    imported = time.perf_counter()
    response = app.app(event, LambdaContext())
    served = time.perf_counter()
    return {"status": response["statusCode"], "import_ms": (imported - before_import) * 1000,
            "request_ms": (served - imported) * 1000, "in_process_ms": (served - STARTED) * 1000}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
