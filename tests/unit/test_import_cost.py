"""What importing the client costs: no crypto unless a key is used, models built on first use.

The timings themselves are in ``bench/imports.py`` (a busy machine makes them unfit for a
test); these tests pin the causes: which modules get imported, and that deferring the
pydantic build changes nothing a user can see.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from typing import Any

import jwt
import pytest

import slurm_core
import slurm_core.watch
from slurm_core.auth._jwt import read_claims
from slurm_core.models import SlurmModel

_CLIENT_WITH_STATIC_TOKEN = """
import sys
from slurm_core import SlurmClient, StaticToken
client = SlurmClient("http://slurm.invalid:6820", auth=StaticToken("{token}", user_name="alice"))
client.close()
print(sorted(m for m in ("jwt", "cryptography") if m in sys.modules))
"""


def _segment(value: Any) -> str:
    data = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_client_with_a_static_token_imports_neither_jwt_nor_cryptography() -> None:
    token = jwt.encode({"sun": "alice", "exp": 2_000_000_000}, "k" * 32, algorithm="HS256")
    out = subprocess.run(
        [sys.executable, "-c", _CLIENT_WITH_STATIC_TOKEN.format(token=token)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "[]"


HEADER = _segment({"alg": "HS256", "typ": "JWT"})
EXP = _segment({"exp": 5})
CLAIMS = [{"sun": "alice", "exp": 2_000_000_000, "iat": 1}, {"exp": 1.5, "nested": {"a": [1]}}]


@pytest.mark.parametrize("claims", CLAIMS)
def test_claims_are_read_without_pyjwt(claims: dict[str, Any]) -> None:
    token = jwt.encode(claims, "k" * 64, algorithm="HS256")
    assert read_claims(token) == claims
    assert jwt.decode(token, options={"verify_signature": False}) == claims


# What PyJWT 2.10+ makes of these too (older versions accept junk in a segment).
@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (f"{HEADER}.{EXP}.", {"exp": 5}),  # empty signature (alg none)
        (f"{HEADER}.{EXP}==.c2ln", {"exp": 5}),  # padded, as some issuers do
        (f"{HEADER}.{EXP}=.c2ln", {}),  # padded wrong
        (f"{HEADER}.{EXP}.c2l!", {}),  # signature not base64url
        (f"{HEADER}.{EXP}.a", {}),  # ... nor a whole byte
        (f"{HEADER}.{_segment([1, 2])}.c2ln", {}),  # payload not an object
        (f"{_segment([1])}.{EXP}.c2ln", {}),  # header not an object
        (f"{HEADER}.{_segment(b'not json')}.c2ln", {}),
        (f"{HEADER}.{EXP}.c2ln.extra", {}),
        ("a.b.c", {}),
        ("opaque-token", {}),
        ("", {}),
        ("..", {}),
    ],
)
def test_malformed_tokens_have_no_claims(token: str, expected: dict[str, Any]) -> None:
    assert read_claims(token) == expected


def _subclasses(cls: type[SlurmModel]) -> list[type[SlurmModel]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


MODELS = sorted(
    {m for m in _subclasses(SlurmModel) if m.__module__.startswith("slurm_core.")},
    key=lambda m: f"{m.__module__}.{m.__qualname__}",
)


def test_every_model_is_found() -> None:
    assert {"Job", "Node", "AccountingJob", "JobEvent"} <= {m.__name__ for m in MODELS}
    assert slurm_core.watch.JobEvent in MODELS


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__qualname__)
def test_every_deferred_model_builds(model: type[SlurmModel]) -> None:
    # defer_build moves schema errors (an unresolvable annotation...) from import time to
    # the first validation in a user's program: find them here instead.
    model.model_rebuild(force=True)
    assert model.__pydantic_complete__
    assert model.model_json_schema()["title"] == model.__name__


_DEFERRED = """
import slurm_core.models as m
print(m.Job.__pydantic_complete__, m.Node.__pydantic_complete__)
m.Job.model_json_schema()
print(m.Job.__pydantic_complete__)
"""


def test_models_are_built_on_first_use_not_at_import() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _DEFERRED], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["False", "False", "True"]


_CLIENT_BEFORE_FIRST_REQUEST = """
import sys
from slurm_core import AsyncSlurmClient, SlurmClient, StaticToken
client = SlurmClient("http://slurm.invalid:6820", auth=StaticToken("t", user_name="alice"))
print(client, client.api_version)
heavy = ("pydantic.main", "slurm_core.models", "slurm_core.resources", "slurm_core.jobs")
print(sorted(m for m in heavy if m in sys.modules))
client.jobs  # the first use of a resource brings in what it needs
print(sorted(m for m in heavy if m in sys.modules))
"""


def test_models_and_resources_load_at_first_use_not_at_import() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _CLIENT_BEFORE_FIRST_REQUEST],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert out[0] == "<SlurmClient http://slurm.invalid:6820 api_version=None> None"
    assert out[1] == "[]"
    assert out[2] == str(
        ["pydantic.main", "slurm_core.jobs", "slurm_core.models", "slurm_core.resources"]
    )
