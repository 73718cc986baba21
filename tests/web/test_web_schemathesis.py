"""Property-based API testing: schemathesis against the server's own OpenAPI spec finds no 5xx.

Bounded (a fixed number of derandomized examples per operation) so it takes well under a
minute. It runs as admin, so requests reach the handlers instead of stopping at auth,
on its own seeded lab so its random writes cannot disturb other tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from web_lab import Lab, Server, seed_lab, start_server


@pytest.fixture(scope="module")
def fuzz_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, Server]]:
    lab = seed_lab(tmp_path_factory.mktemp("fuzzlab"))
    srv = start_server(lab.db, lab.data, lab.key, worker=False)
    yield lab, srv
    srv.stop()


#: The monitoring operations only queue a job (the server runs no worker here, so no model
#: is ever queried): they are fuzzed like every other operation, and must be reached.
MONITOR_JOBS = {("POST", "/api/v1/monitor/{version_id}/enroll"), ("POST", "/api/v1/monitor/{version_id}/check")}


def test_api_never_answers_5xx(fuzz_lab: tuple[Lab, Server]) -> None:
    lab, srv = fuzz_lab
    api = schemathesis.openapi.from_url(f"{srv.url}/openapi.json")
    headers = {"Authorization": f"Bearer {lab.tokens['admin']}"}
    failures: list[str] = []
    operations = 0
    calls = 0
    seen: set[tuple[str, str]] = set()

    for result in api.get_all_operations():
        op = result.ok()
        seen.add((op.method.upper(), op.path))
        operations += 1

        @given(case=op.as_strategy())
        @settings(max_examples=12, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case) -> None:  # type: ignore[no-untyped-def]
            nonlocal calls
            calls += 1
            response = case.call(base_url=srv.url, headers=headers, timeout=30)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:200]}")
            try:
                case.validate_response(response, checks=[not_a_server_error])
            except Exception as exc:  # schemathesis raises its failure group
                failures.append(f"{case.method} {case.formatted_path}: {str(exc).splitlines()[0]}")

        fuzz()
    assert MONITOR_JOBS <= seen, MONITOR_JOBS - seen
    from modelcert.registry import MONITOR_JOBS as KINDS
    from modelcert.registry import Registry

    with Registry(lab.db) as reg:  # the fuzz queued a job (then met the one-job-per-version 409s)
        jobs = reg.audits(kinds=KINDS)
    assert jobs and {j.state for j in jobs} == {"queued"}, [(j.kind, j.state) for j in jobs]
    assert operations >= 20 and calls >= operations
    assert failures == [], "\n".join(failures[:20])
