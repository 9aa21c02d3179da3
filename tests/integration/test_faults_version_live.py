"""Issue 16, finding 8: a REST version withdrawn by an upgrade is renegotiated once.

A fault proxy plays the upgrade in front of a real 24.11 slurmrestd (v0.0.40-42): before,
its OpenAPI document offers up to v0.0.41, so clients settle on v0.0.41; after, every
v0.0.41 path gets slurmrestd's own plain-text 404 and the document offers v0.0.42 only.
Two clients of the process: one renegotiation, each call retried once, no error seen. A
404 for a missing job (JSON, error 2017) renegotiates nothing.
"""

from __future__ import annotations

import json
import threading

import pytest
from faultproxy import Answer, FaultProxy, Request, Respond, Rewrite

from slurm_core import NotFoundError, SlurmClient, StaticToken
from slurm_core.testing.cluster import LocalSlurmCluster

NO_ROUTE = b"Unable find requested URL. Please view /openapi/v3 for API reference."


class Upgrade:
    """The OpenAPI document as the server offers it before or after the upgrade."""

    def __init__(self) -> None:
        self.done = threading.Event()

    def document(self, req: Request, answer: Answer) -> Answer:
        doc = json.loads(answer.body)
        gone = "/v0.0.41/" if self.done.is_set() else "/v0.0.42/"
        doc["paths"] = {
            p: v for p, v in doc["paths"].items() if gone not in p and "/v0.0.40/" not in p
        }
        return Answer(answer.status, answer.headers, json.dumps(doc).encode())


def test_a_withdrawn_version_is_renegotiated_once(slurm_cluster: LocalSlurmCluster) -> None:
    if slurm_cluster.release != "24.11":
        pytest.skip("played on 24.11, which serves v0.0.40 to v0.0.42")
    upgrade = Upgrade()
    auth = StaticToken(slurm_cluster.token(), user_name=slurm_cluster.user_name)
    with FaultProxy(slurm_cluster.ports.slurmrestd) as proxy:
        proxy.on(Rewrite(upgrade.document), path="/openapi/v3")
        first = SlurmClient(proxy.url, auth=auth)
        second = SlurmClient(proxy.url, auth=auth)
        with first, second:
            job_id = (
                first.jobs.submit()
                .script("#!/bin/sh\ntrue\n")
                .working_directory(slurm_cluster.shared_dir)
                .hold()
                .execute()
                .job_id
            )
            try:
                second.jobs.list()
                assert first.api_version == second.api_version == "v0.0.41"
                before = proxy.count("GET", "/openapi/v3")
                upgrade.done.set()
                proxy.on(
                    Respond(404, NO_ROUTE, "text/plain"),
                    match=lambda r: "/v0.0.41/" in r.path,
                )
                assert first.jobs.get(job_id).job_id == job_id
                assert any(j.job_id == job_id for j in second.jobs.list())
                assert proxy.count("GET", "/openapi/v3") == before + 1  # once, for both
                assert first.api_version == second.api_version == "v0.0.42"
                with pytest.raises(NotFoundError):
                    first.jobs.get(2_000_000_000)  # missing job: no renegotiation
                assert proxy.count("GET", "/openapi/v3") == before + 1
            finally:
                first.jobs.cancel(job_id)
