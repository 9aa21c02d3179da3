"""error_from_response: status -> class, Slurm error numbers -> class, on real bodies."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import httpx
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slurm_core._errmap import error_from_response, parse_error_entries
from slurm_core._exceptions import (
    AuthenticationError,
    CircuitOpenError,
    ConfigurationError,
    InvalidRequestError,
    JobFailedError,
    JobSpecError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    SlurmAPIError,
    SlurmConnectionError,
    SlurmError,
    SlurmErrorEntry,
    SlurmTimeoutError,
    UnsupportedAPIVersionError,
)

LIVE = Path(__file__).resolve().parents[1] / "data" / "live-errors"  # real answers, copied


def _resp(status: int, content: bytes | str, *, url: str = "http://h:6820/x") -> httpx.Response:
    body = content.encode() if isinstance(content, str) else content
    return httpx.Response(status, content=body, request=httpx.Request("GET", url))


def _recorded_2205(name: str) -> tuple[int, str]:
    """22.05 examples: the JSON body then a trailing 'HTTP <status>' line."""
    text = (LIVE / "22.05/examples" / name).read_text()
    match = re.search(r"\nHTTP (\d{3})\s*$", text)
    assert match, name
    return int(match.group(1)), text[: match.start()]


def _recorded_errors(release: str, name: str) -> tuple[int, str]:
    """24.11/26.05 errors/*.txt: the body then a trailing '{"http_status": N}' line."""
    text = (LIVE / release / "examples/errors" / name).read_text().rstrip()
    body, _, trailer = text.rpartition("\n")
    return json.loads(trailer)["http_status"], body


# --- real bodies ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "cls", "number"),
    [
        ("GET_v0.0.38_job_unknown.response.txt", NotFoundError, 2017),
        ("DELETE_v0.0.38_job_unknown.response.txt", NotFoundError, 2017),
        ("GET_v0.0.38_ping_no_auth.response.txt", AuthenticationError, None),
        # A garbage token on /ping: 22.05 reports "config unable to load" (-1), nothing
        # that names authentication; it stays a ServerError rather than a guess.
        ("GET_v0.0.38_ping_bad_token.response.txt", ServerError, -1),
    ],
)
def test_2205_recorded_errors(name: str, cls: type[SlurmAPIError], number: int | None) -> None:
    status, body = _recorded_2205(name)
    err = error_from_response(_resp(status, body))
    assert type(err) is cls
    assert err.status_code == status
    if number is None:
        assert err.errors == []
    else:
        assert err.errors[0].error_number == number


def test_2205_bad_partition_is_invalid_request_despite_http_500() -> None:
    body = (LIVE / "22.05/examples/POST_v0.0.38_job_submit_bad_partition.response.json").read_text()
    err = error_from_response(_resp(500, body))  # 22.05 sends this one as HTTP 500
    assert type(err) is InvalidRequestError
    assert err.errors == [SlurmErrorEntry(2000, "Invalid partition name specified")]
    assert "Invalid partition name specified" in str(err)
    assert "[2000]" in str(err)


@pytest.mark.parametrize("release", ["24.11", "26.05"])
def test_later_releases_recorded_errors(release: str) -> None:
    status, body = _recorded_errors(release, "jobs_bad_token.txt")
    err = error_from_response(_resp(status, body))
    assert (status, type(err)) == (511, AuthenticationError)
    assert err.error_numbers == [1007]

    status, body = _recorded_errors(release, "jobs_no_token.txt")
    err = error_from_response(_resp(status, body))
    assert (status, type(err)) == (401, AuthenticationError)
    assert err.body == "Authentication failure"
    assert "Authentication failure" in str(err)


@pytest.mark.parametrize(
    "path",
    ["24.11/examples/v0.0.42/job_get_missing.json", "26.05/examples/v0.0.45/job_get_missing.json"],
)
def test_later_releases_missing_job_is_404_not_found(path: str) -> None:
    record = json.loads((LIVE / path).read_text())
    resp = record["response"]
    err = error_from_response(_resp(resp["status"], json.dumps(resp["body"])))
    assert type(err) is NotFoundError
    assert err.status_code == 404
    assert err.errors[0] == SlurmErrorEntry(
        2017, "Invalid job id specified", "Unable to query JobId=999999", "_handle_job_get"
    )
    assert err.warnings == []


# --- status table and error numbers ---------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, InvalidRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (418, InvalidRequestError),
        (422, InvalidRequestError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (511, AuthenticationError),
        (302, SlurmAPIError),
    ],
)
def test_status_to_class(status: int, cls: type[SlurmAPIError]) -> None:
    err = error_from_response(_resp(status, b""))
    assert type(err) is cls
    assert err.status_code == status


@pytest.mark.parametrize(
    ("status", "number", "cls"),
    [
        (500, 2000, InvalidRequestError),  # ESLURM_INVALID_PARTITION_NAME
        (500, 2002, PermissionDeniedError),  # ESLURM_ACCESS_DENIED
        (500, 2017, NotFoundError),  # ESLURM_INVALID_JOB_ID
        (500, 1007, AuthenticationError),  # SLURM_PROTOCOL_AUTHENTICATION_ERROR
        (500, 6000, AuthenticationError),  # ESLURM_AUTH_CRED_INVALID
        (500, 6001, AuthenticationError),  # ESLURM_AUTH_EXPIRED
        (500, 9202, InvalidRequestError),  # ESLURM_DATA_CONV_FAILED
        (500, 1800, ServerError),  # SLURMCTLD_COMMUNICATIONS_CONNECTION_ERROR: no mapping
        (400, 2017, NotFoundError),
        (401, 2017, AuthenticationError),  # auth status wins: body is a consequence
        (511, 2017, AuthenticationError),
    ],
)
def test_error_number_beats_status(status: int, number: int, cls: type[SlurmAPIError]) -> None:
    body = json.dumps({"errors": [{"error_number": number, "error": "x"}]})
    assert type(error_from_response(_resp(status, body))) is cls


def test_first_known_number_decides() -> None:
    body = {"errors": [{"error_number": 1800}, {"error_number": 2017}, {"error_number": 2000}]}
    assert type(error_from_response(_resp(500, json.dumps(body)))) is NotFoundError


def test_every_version_entry_shape_is_parsed() -> None:
    body = {
        "errors": [
            {"errno": 2017, "error": "v0.0.36 style"},
            {"error_code": 2000, "error": "22.05 submit style"},
            {"error_number": "9001", "error": "x", "description": "d", "source": "s"},
            "bare string",
            42,
        ],
        "warnings": [{"description": "careful", "source": "w"}, {"warning": "old style"}],
    }
    errors, warnings = parse_error_entries(body)
    assert [e.error_number for e in errors] == [2017, 2000, 9001, None]
    assert errors[3].error == "bare string"
    assert warnings == [
        SlurmErrorEntry(description="careful", source="w"),
        SlurmErrorEntry(error="old style"),
    ]


def test_warnings_are_carried() -> None:
    body = {"errors": [{"error_number": 2017}], "warnings": [{"description": "w1", "source": "s"}]}
    err = error_from_response(_resp(404, json.dumps(body)))
    assert err.warnings == [SlurmErrorEntry(description="w1", source="s")]


def test_rate_limit_carries_retry_after() -> None:
    resp = httpx.Response(
        429, headers={"Retry-After": "7"}, request=httpx.Request("GET", "http://h/")
    )
    err = error_from_response(resp)
    assert isinstance(err, RateLimitError)
    assert err.retry_after == 7.0


@pytest.mark.parametrize(
    "body",
    [
        b'{"errors": [{"error_number": 2017, "error": "Invalid job',  # truncated
        b"<html><body>502 Bad Gateway</body></html>",
        b"\xff\xfe\x00garbage",
        b"[1, 2, 3]",
        b'{"errors": "not a list"}',
    ],
)
def test_malformed_error_body_still_typed(body: bytes) -> None:
    err = error_from_response(_resp(502, body))
    assert type(err) is ServerError
    assert err.errors == []
    assert err.body


def test_fields_method_url_request_id_and_redaction() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdW4iOiJhbGljZSJ9.c2lnbmF0dXJlX2hlcmU"
    req = httpx.Request("DELETE", f"http://h:6820/slurm/v0.0.40/job/1?token={jwt}&signal=9")
    body = json.dumps({"errors": [{"error_number": 2017, "description": f"echo {jwt}"}]})
    resp = httpx.Response(404, content=body.encode(), headers={"X-Request-Id": "r-1"}, request=req)
    err = error_from_response(resp)
    assert err.method == "DELETE"
    assert err.url is not None
    assert "signal=9" in err.url
    assert jwt not in err.url
    assert err.request_id == "r-1"
    assert jwt not in str(err)
    assert jwt not in (err.body or "")
    assert jwt not in repr(err)
    assert err.response is resp


def test_long_body_excerpt_is_bounded() -> None:
    err = error_from_response(_resp(500, "x" * 100_000))
    assert err.body is not None
    assert len(err.body) <= 503


def test_without_request() -> None:
    err = error_from_response(httpx.Response(404, json={"errors": []}))
    assert type(err) is NotFoundError
    assert err.method is None
    assert err.url is None


@settings(max_examples=200, deadline=None)
@given(status=st.integers(300, 599), body=st.binary(max_size=300))
def test_mapping_never_raises_on_arbitrary_bodies(status: int, body: bytes) -> None:
    err = error_from_response(_resp(status, body))
    assert isinstance(err, SlurmAPIError)
    assert err.status_code == status


@settings(max_examples=100, deadline=None)
@given(
    entries=st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "error_number": st.one_of(st.integers(-5, 20000), st.text(max_size=5), st.none()),
                "error": st.one_of(st.text(max_size=20), st.integers(), st.none()),
                "description": st.one_of(st.text(max_size=20), st.none()),
                "source": st.one_of(st.text(max_size=20), st.none()),
            },
        ),
        max_size=4,
    )
)
def test_mapping_never_raises_on_odd_entries(entries: list[dict[str, object]]) -> None:
    err = error_from_response(_resp(500, json.dumps({"errors": entries})))
    assert isinstance(err, SlurmAPIError)
    assert len(err.errors) == len(entries)
    str(err)


# --- the rest of the tree -------------------------------------------------------------------
def test_hierarchy() -> None:
    for cls in (
        InvalidRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        RateLimitError,
        ServerError,
    ):
        assert issubclass(cls, SlurmAPIError)
    assert issubclass(SlurmTimeoutError, SlurmConnectionError)
    for other in (
        ConfigurationError,
        SlurmConnectionError,
        SlurmAPIError,
        ResponseValidationError,
        UnsupportedAPIVersionError,
        CircuitOpenError,
        JobSpecError,
        JobFailedError,
    ):
        assert issubclass(other, SlurmError)
    assert issubclass(JobSpecError, ValueError)


def test_configuration_error_lists_places() -> None:
    err = ConfigurationError("nothing found", tried=["env A: not set", "file B: not found"])
    assert err.tried == ["env A: not set", "file B: not found"]
    assert "env A: not set" in str(err)
    assert "file B: not found" in str(err)


def test_unsupported_version_names_everything() -> None:
    err = UnsupportedAPIVersionError("v0.0.39", ["v0.0.40", "v0.0.41"], ["v0.0.38", "v0.0.39"])
    for text in ("v0.0.39", "v0.0.40", "v0.0.41", "v0.0.38"):
        assert text in str(err)
    assert err.server_versions == ["v0.0.40", "v0.0.41"]


def test_circuit_open_error() -> None:
    err = CircuitOpenError("http://h:6820", retry_after=4.0)
    assert err.base_url == "http://h:6820"
    assert err.retry_after == 4.0
    assert err.retry_at.tzinfo is not None
    assert "http://h:6820" in str(err)


def test_job_errors() -> None:
    spec = JobSpecError("time_limit", "must be positive")
    assert (spec.field, spec.message) == ("time_limit", "must be positive")
    with pytest.raises(ValueError, match="time_limit"):
        raise spec
    failed = JobFailedError(42, "FAILED", exit_code=3, reason="NonZeroExitCode")
    assert (failed.job_id, failed.state, failed.exit_code) == (42, "FAILED", 3)
    assert "42" in str(failed)
    assert "FAILED" in str(failed)
    assert "3" in str(failed)


class _Job(pydantic.BaseModel):
    job_id: int
    name: str


class _Jobs(pydantic.BaseModel):
    jobs: list[_Job]


def test_response_validation_error_names_field_path() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        _Jobs.model_validate(
            {"jobs": [{"job_id": 1, "name": "a"}, {"job_id": "secret-x", "name": "b"}]}
        )
    err = ResponseValidationError.from_pydantic(info.value, what="jobs")
    assert err.path == "jobs[1].job_id"
    assert "jobs[1].job_id" in str(err)
    assert "secret-x" not in str(err)  # input values are not copied into messages


@pytest.mark.parametrize(
    "err",
    [
        error_from_response(_resp(404, json.dumps({"errors": [{"error_number": 2017}]}))),
        error_from_response(
            httpx.Response(
                429, headers={"Retry-After": "2"}, request=httpx.Request("GET", "http://h/")
            )
        ),
        SlurmTimeoutError("slow", method="GET", url="http://h/", phase="read"),
        ConfigurationError("nothing", tried=["a", "b"]),
        UnsupportedAPIVersionError("v0.0.39", ["v0.0.40"], ["v0.0.38"]),
        CircuitOpenError("http://h:6820", retry_after=3),
        JobSpecError("nodes", "must be positive"),
        JobFailedError(7, "FAILED", 1, "NonZeroExitCode"),
        ResponseValidationError("bad", path="jobs[0].state"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_pickle(err: SlurmError) -> None:
    copy = pickle.loads(pickle.dumps(err))  # noqa: S301 - our own bytes
    assert type(copy) is type(err)
    assert str(copy) == str(err)
    expected = {k: v for k, v in vars(err).items() if k != "response"}
    assert {k: v for k, v in vars(copy).items() if k != "response"} == expected
    assert getattr(copy, "response", None) is None
