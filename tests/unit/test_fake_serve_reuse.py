"""A fake served on a port an earlier fake used is negotiated afresh (the airflow suite's
v0.0.38 fake once got v0.0.45 requests: the process remembered the earlier server)."""

from __future__ import annotations

import socket

from slurm_core import SlurmClient, StaticToken
from slurm_core.testing import FakeSlurmServer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_new_server_on_an_old_port_is_negotiated_afresh() -> None:
    port = _free_port()
    auth = StaticToken("t", user_name="root")
    newer, older = FakeSlurmServer(api_version="v0.0.45"), FakeSlurmServer(api_version="v0.0.38")
    with newer.serve(port) as url, SlurmClient(url, auth=auth) as client:
        assert client.negotiate() == "v0.0.45"
    with older.serve(port) as url, SlurmClient(url, auth=auth) as client:
        assert client.negotiate() == "v0.0.38"
        assert client.jobs.list() == []
