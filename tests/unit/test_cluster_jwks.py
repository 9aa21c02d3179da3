"""A test cluster that trusts an identity provider's keys: rendered config, the key set
written, slurm.conf rewritten in place (no daemons here; tests/oidc does it live)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from slurm_core.testing.cluster import RELEASES, ClusterError
from slurm_core.testing.cluster._conf import ClusterConfig, render_all, render_slurm_conf
from slurm_core.testing.cluster._jwks import check_jwks, configure_jwks, reloads_jwks, write_jwks
from slurm_core.testing.cluster._release import get_release

KEY = {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "k1", "n": "qnR1", "e": "AQAB"}


def auth_alt(text: str) -> str:
    (line,) = [x for x in text.splitlines() if x.startswith("AuthAltParameters=")]
    return line.partition("=")[2]


@pytest.mark.parametrize("release", RELEASES)
def test_a_jwks_cluster_trusts_the_key_set_and_keeps_the_hs256_key(release: str) -> None:
    cfg = ClusterConfig(get_release(release), "ci-host", jwks=True)
    params = auth_alt(render_slurm_conf(cfg)).split(",")
    assert params[:2] == ["jwt_key=/etc/slurm/jwt_hs256.key", "jwks=/etc/slurm/jwks.json"]
    # 22.05 reads no userclaimfield, only the sun/username claims.
    claim = ["userclaimfield=preferred_username"] if release != "22.05" else []
    assert params[2:] == claim
    # slurmctld will not start without the file: an empty key set is written with it.
    files = render_all(cfg)
    assert json.loads(files["/etc/slurm/jwks.json"]) == {"keys": []}
    # slurmdbd verifies the tokens of the /slurmdb/ endpoints the same way.
    assert auth_alt(files["/etc/slurm/slurmdbd.conf"]) == ",".join(params)


def test_without_jwks_nothing_changes() -> None:
    cfg = ClusterConfig(get_release("26.05"), "ci-host")
    assert auth_alt(render_slurm_conf(cfg)) == "jwt_key=/etc/slurm/jwt_hs256.key"
    assert "/etc/slurm/jwks.json" not in render_all(cfg)


def test_only_releases_that_reexecute_on_reconfigure_reload_the_key_set() -> None:
    assert [r for r in RELEASES if reloads_jwks(get_release(r))] == ["24.11", "26.05"]


@pytest.mark.parametrize(
    ("jwks", "why"),
    [
        ({"keys": "x"}, "'keys' list"),
        ({"keys": [{**KEY, "kid": ""}]}, "has no kid"),
        ({"keys": [{k: v for k, v in KEY.items() if k != "e"}]}, "has no e"),
        ({"keys": [{**KEY, "d": "secret"}]}, "private key material"),
    ],
)
def test_a_key_set_slurmctld_would_die_on_is_refused(jwks: dict[str, object], why: str) -> None:
    with pytest.raises(ClusterError, match=why):
        check_jwks(jwks)


def test_other_algorithms_pass_through_as_slurmctld_skips_them() -> None:
    text = check_jwks({"keys": [{"kty": "EC", "alg": "ES256", "kid": "e"}, KEY]})
    assert json.loads(text)["keys"][1] == KEY


def test_the_key_set_and_slurm_conf_are_rewritten_in_place(tmp_path: Path) -> None:
    etc = tmp_path / "etc" / "slurm"
    etc.mkdir(parents=True)
    spec = get_release("26.05")
    (etc / "slurm.conf").write_text(render_slurm_conf(ClusterConfig(spec, "ci-host")))
    write_jwks(tmp_path, {"keys": [KEY]}, (os.getuid(), os.getgid()))
    configure_jwks(tmp_path, spec)
    configure_jwks(tmp_path, spec)  # idempotent
    assert json.loads((etc / "jwks.json").read_text()) == {"keys": [KEY]}
    assert (etc / "jwks.json").stat().st_mode & 0o777 == 0o644
    expected = render_slurm_conf(ClusterConfig(spec, "ci-host", jwks=True))
    assert (etc / "slurm.conf").read_text() == expected
