"""slurm_core.testing.cluster without daemons: configs, ports, state, errors, CLI."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from slurm_core.testing import pytest_plugin
from slurm_core.testing.cluster import RELEASES, ClusterError, LocalSlurmCluster, _proc, _root
from slurm_core.testing.cluster import __main__ as cli
from slurm_core.testing.cluster._conf import ClusterConfig, render_all, render_slurm_conf
from slurm_core.testing.cluster._daemons import daemon_specs
from slurm_core.testing.cluster._errors import redact
from slurm_core.testing.cluster._release import RELEASE_SPECS, Ports, get_release
from slurm_core.testing.cluster._state import RunDir, RunState

FAKE_JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdW4iOiJhbGljZSJ9.c2lnbmF0dXJl"


def conf(release: str, nodes: int = 1, accounting: bool = True) -> ClusterConfig:
    return ClusterConfig(get_release(release), "ci-host.example", nodes, accounting)


def settings(text: str) -> dict[str, str]:
    """key=value of a slurm config file (first occurrence of each key)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out.setdefault(key, value)
    return out


# ---------------------------------------------------------------- releases and ports
def test_releases_and_their_suites() -> None:
    assert RELEASES == ("22.05", "24.11", "26.05")
    assert [RELEASE_SPECS[r].suite for r in RELEASES] == ["bookworm", "trixie", "sid"]


@pytest.mark.parametrize(("release", "prefix"), [("22.05", 68), ("24.11", 78), ("26.05", 88)])
def test_port_layout(release: str, prefix: int) -> None:
    ports = get_release(release).ports
    base = prefix * 100
    assert (ports.slurmctld, ports.slurmd, ports.slurmdbd, ports.slurmrestd) == (
        base + 17,
        base + 18,
        base + 19,
        base + 20,
    )
    assert ports.node_port(1) == ports.slurmd
    assert ports.all(1, accounting=False) == (base + 17, base + 18, base + 20)


def test_ports_never_collide_across_releases_and_nodes() -> None:
    seen: list[int] = []
    for release in RELEASES:
        seen += get_release(release).ports.all(nodes=32, accounting=True)
    assert len(seen) == len(set(seen))


def test_node_port_rejects_out_of_range() -> None:
    with pytest.raises(ValueError, match="node index"):
        Ports.for_prefix(78).node_port(0)


def test_unknown_release() -> None:
    with pytest.raises(ValueError, match=r"unknown SLURM release '23\.02'"):
        LocalSlurmCluster("23.02")


# ---------------------------------------------------------------- rendered configs
@pytest.mark.parametrize("release", RELEASES)
def test_slurm_conf_essentials(release: str) -> None:
    text = render_slurm_conf(conf(release))
    s = settings(text)
    ports = get_release(release).ports
    assert s["SlurmctldHost"] == "ci-host(127.0.0.1)"
    assert s["SlurmctldPort"] == str(ports.slurmctld)
    assert s["SlurmUser"] == "slurm"
    assert s["AuthAltTypes"] == "auth/jwt"
    assert s["AuthAltParameters"] == "jwt_key=/etc/slurm/jwt_hs256.key"
    assert s["ProctrackType"] == "proctrack/linuxproc"
    assert s["TaskPlugin"] == "task/none"
    assert s["GresTypes"] == "gpu"
    assert s["AccountingStorageType"] == "accounting_storage/slurmdbd"
    assert s["AccountingStoragePort"] == str(ports.slurmdbd)
    assert s["AccountingStorageTRES"] == "gres/gpu"
    assert (
        f"NodeName=node1 NodeHostname=ci-host NodeAddr=127.0.0.1 Port={ports.slurmd} CPUs=2"
        " RealMemory=2000 Gres=gpu:fake:2 State=UNKNOWN"
    ) in text
    assert "PartitionName=debug Nodes=node1 Default=YES MaxTime=INFINITE State=UP" in text
    assert "PartitionName=gpu Nodes=node1 Default=NO MaxTime=INFINITE State=UP" in text


def test_without_accounting_nothing_needs_slurmdbd() -> None:
    cfg = conf("24.11", accounting=False)
    s = settings(render_slurm_conf(cfg))
    assert s["AccountingStorageType"] == "accounting_storage/none"
    # Fatal without slurmdbd.
    assert "AccountingStorageTRES" not in s
    files = render_all(cfg)
    assert "/etc/slurm/slurmdbd.conf" not in files
    assert "mariadbd" not in daemon_specs(cfg)
    assert "slurmdbd" not in daemon_specs(cfg)


def test_several_nodes_get_their_own_ports() -> None:
    cfg = conf("26.05", nodes=3)
    text = render_slurm_conf(cfg)
    ports = [int(word[5:]) for word in text.split() if word.startswith("Port=")]
    assert ports == [8818, 8842, 8843]
    assert "PartitionName=gpu Nodes=node[1-3]" in text
    assert render_all(cfg)["/etc/slurm/gres.conf"].endswith(
        "NodeName=node[1-3] Name=gpu Type=fake File=/dev/nvidia[0-1]\n"
    )
    assert [d for d in daemon_specs(cfg) if d.startswith("slurmd@")] == [
        "slurmd@node1",
        "slurmd@node2",
        "slurmd@node3",
    ]


@pytest.mark.parametrize("nodes", [0, 33])
def test_node_count_is_bounded(nodes: int) -> None:
    with pytest.raises(ValueError, match="nodes must be"):
        conf("24.11", nodes=nodes)


def test_unusable_hostname() -> None:
    with pytest.raises(ValueError, match="host name"):
        ClusterConfig(get_release("24.11"), hostname="bad host")


@pytest.mark.parametrize(
    ("release", "plugin"), [("22.05", "cgroup/v1"), ("24.11", "disabled"), ("26.05", "disabled")]
)
def test_cgroup_conf(release: str, plugin: str) -> None:
    assert render_all(conf(release))["/etc/slurm/cgroup.conf"] == f"CgroupPlugin={plugin}\n"


def test_slurmdbd_conf_and_hosts() -> None:
    files = render_all(conf("24.11"))
    dbd = settings(files["/etc/slurm/slurmdbd.conf"])
    assert dbd["DbdPort"] == "7819"
    assert dbd["StorageType"] == "accounting_storage/mysql"
    assert dbd["AuthAltTypes"] == "auth/jwt"
    hosts = files["/etc/hosts"].splitlines()[0].split()
    assert hosts == ["127.0.0.1", "localhost", "ci-host.example", "ci-host", "node1"]


# ---------------------------------------------------------------- daemon command lines
def test_slurmrestd_command_line_per_release() -> None:
    old = daemon_specs(conf("22.05"))["slurmrestd"]
    assert "openapi/v0.0.36,openapi/v0.0.37,openapi/v0.0.38,openapi/dbv0.0.36" in ",".join(old.argv)
    # Started as root with -u/-g (not through setpriv), 22.05 needs no SLURMRESTD_SECURITY.
    assert dict(old.env) == {"SLURM_JWT": "daemon"}
    new = daemon_specs(conf("24.11", accounting=False))["slurmrestd"]
    assert new.argv[new.argv.index("-s") + 1] == "openapi/slurmctld"
    assert new.argv[-5:] == ("-u", "65534", "-g", "65534", "127.0.0.1:7820")
    assert dict(new.env) == {"SLURM_JWT": "daemon"}


def test_only_trixie_and_sid_use_the_compat_libmariadb() -> None:
    env = {r: dict(daemon_specs(conf(r))["slurmdbd"].env) for r in RELEASES}
    assert env["22.05"] == {}
    assert env["24.11"] == env["26.05"] == {"LD_LIBRARY_PATH": "/opt/libmariadb-compat"}


def test_daemon_environment_never_inherits_slurm_jwt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_JWT", FAKE_JWT)
    monkeypatch.setenv("SLURM_CONF", "/elsewhere")
    env = _proc.clean_env({"X": "1"})
    assert "SLURM_JWT" not in env
    assert "SLURM_CONF" not in env
    assert env["X"] == "1"


# ---------------------------------------------------------------- root stamp
def test_stamp_decides_what_is_missing(tmp_path: Path) -> None:
    spec = get_release("24.11")
    (tmp_path / "etc").mkdir()
    assert not _root.root_is_current(tmp_path, spec, accounting=False)
    steps = dict(_root.STEPS)
    stamp = {"packages": list(_root.BASE_PACKAGES), "steps": steps}
    (tmp_path / _root.STAMP).write_text(json.dumps(stamp))
    assert _root.root_is_current(tmp_path, spec, accounting=False)
    # Accounting adds packages and, on trixie, the compat library step.
    assert not _root.root_is_current(tmp_path, spec, accounting=True)
    stamp["packages"] = [*_root.BASE_PACKAGES, *_root.ACCOUNTING_PACKAGES]
    (tmp_path / _root.STAMP).write_text(json.dumps(stamp))
    assert not _root.root_is_current(tmp_path, spec, accounting=True)
    steps["compat-libmariadb"] = 1
    (tmp_path / _root.STAMP).write_text(json.dumps(stamp))
    assert _root.root_is_current(tmp_path, spec, accounting=True)


def test_ids_come_from_the_roots_own_passwd(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text(
        "root:x:0:0::/root:/bin/sh\nmunge:x:101:101::/:/bin/false\n"
    )
    assert _root.user_id(tmp_path, "munge") == 101
    with pytest.raises(ClusterError, match="no entry 'slurm'"):
        _root.user_id(tmp_path, "slurm")


def test_missing_debootstrap_that_apt_cannot_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)

    def failing_apt(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, 100, "", "E: Unable to locate")

    monkeypatch.setattr(subprocess, "run", failing_apt)
    with pytest.raises(ClusterError, match=r"(?s)debootstrap is missing.*Unable to locate"):
        _root.ensure_debootstrap(lambda msg: None)


# ---------------------------------------------------------------- errors and guards
def test_redact_masks_tokens() -> None:
    err = ClusterError(f"scontrol said SLURM_JWT={FAKE_JWT} and more")
    assert FAKE_JWT not in str(err)
    assert "<redacted>" in str(err)
    assert redact("no token here") == "no token here"


def test_not_root_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    cluster = LocalSlurmCluster("24.11", cache_dir=tmp_path)
    with pytest.raises(ClusterError, match="needs root"):
        cluster.start()
    with pytest.raises(ClusterError, match="needs root"):
        cluster.stop()


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_port_taken_by_a_foreign_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, busy_port: int
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    # A cluster whose REST port is the one this test holds (the others are never in use).
    monkeypatch.setattr(
        LocalSlurmCluster, "ports", property(lambda self: Ports(1, 2, 3, busy_port))
    )
    cluster = LocalSlurmCluster("24.11", cache_dir=tmp_path)
    with pytest.raises(ClusterError, match=rf"port {busy_port} .* taken by pid {os.getpid()}"):
        cluster.start()
    assert not (tmp_path / "roots").exists()


def test_token_when_not_running(tmp_path: Path) -> None:
    cluster = LocalSlurmCluster("26.05", cache_dir=tmp_path)
    assert not cluster.is_running()
    assert LocalSlurmCluster.running("26.05", cache_dir=tmp_path) is None
    with pytest.raises(ClusterError, match=r"not running.*up --release 26\.05"):
        cluster.token()


def test_repr_and_paths(tmp_path: Path) -> None:
    cluster = LocalSlurmCluster("22.05", cache_dir=tmp_path)
    assert repr(cluster) == (
        "LocalSlurmCluster(release='22.05', accounting=True, nodes=1, url='http://127.0.0.1:6820')"
    )
    assert cluster.root == tmp_path / "roots/22.05"
    assert cluster.shared_dir == tmp_path / "run/22.05/shared"
    assert cluster.jwt_key_path == tmp_path / "roots/22.05/etc/slurm/jwt_hs256.key"
    assert cluster.host_path(cluster.shared_dir / "a.out") == cluster.shared_dir / "a.out"
    assert cluster.host_path("/var/log/x") == tmp_path / "roots/22.05/var/log/x"
    with pytest.raises(ValueError, match="absolute"):
        cluster.host_path("var/log/x")
    assert cluster.served_versions == ("v0.0.36", "v0.0.37", "v0.0.38")


def test_cache_dir_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SLURM_CLIENT_CACHE", str(tmp_path))
    assert LocalSlurmCluster("24.11").root == tmp_path / "roots/24.11"


# ---------------------------------------------------------------- run state
def test_run_state_round_trip_and_private_token(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run/24.11")
    state = RunState("24.11", "/r", True, 1, "alice", "root", pids={"munged": 42})
    run.save(state)
    assert run.load() == state
    run.write_token(FAKE_JWT)
    assert run.read_token() == FAKE_JWT
    assert stat.S_IMODE(run.token_file.stat().st_mode) == 0o600
    assert FAKE_JWT not in run.state_file.read_text()
    run.reset()
    assert run.load() is None
    assert run.read_token() is None
    assert stat.S_IMODE(run.shared.stat().st_mode) == 0o1777


def test_corrupt_state_is_ignored(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    run.state_file.write_text("{not json")
    assert run.load() is None


# ---------------------------------------------------------------- /proc helpers
def test_listening_ports_and_owner(busy_port: int) -> None:
    ports = _proc.listening_ports()
    assert busy_port in ports
    assert os.getpid() in _proc.port_owners(ports[busy_port])


def test_mounts_under() -> None:
    assert Path("/proc") in _proc.mounts_under(Path("/proc"))
    assert _proc._unescape_mountinfo(r"/a\040b") == "/a b"


# ---------------------------------------------------------------- CLI and plugin
def test_cli_env_needs_one_release(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["env", "--release", "all"]) == 2
    assert "one --release" in capsys.readouterr().err


def test_cli_status_of_a_stopped_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["status", "--release", "24.11", "--cache-dir", str(tmp_path)]) == 3
    assert "SLURM 24.11: stopped" in capsys.readouterr().out


def test_cli_env_of_a_stopped_cluster(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["env", "--release", "26.05", "--cache-dir", str(tmp_path)]) == 1
    assert "not running" in capsys.readouterr().err


def test_plugin_releases_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLURM_TEST_RELEASES", raising=False)
    assert pytest_plugin._test_releases() == ["22.05", "24.11", "26.05"]
    monkeypatch.setenv("SLURM_TEST_RELEASES", " 26.05, ,22.05")
    assert pytest_plugin._test_releases() == ["26.05", "22.05"]


@pytest.mark.parametrize(("ci", "outcome"), [("", "1 skipped"), ("true", "1 error")])
def test_plugin_when_no_cluster_can_start(tmp_path: Path, ci: str, outcome: str) -> None:
    (tmp_path / "test_x.py").write_text("def test_x(slurm_cluster):\n    pass\n")
    env = {**os.environ, "SLURM_TEST_RELEASES": "99.99", "CI": ci}
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-rA", "-p", "no:cacheprovider", "test_x.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert outcome in res.stdout, res.stdout
    assert "SLURM cluster unavailable: unknown SLURM release '99.99'" in res.stdout
    assert "test_x[99.99]" in res.stdout


def test_the_cluster_tooling_says_it_is_a_test_harness() -> None:
    import subprocess
    import sys

    import slurm_core.testing.cluster as cluster

    assert "not a security boundary" in (cluster.__doc__ or "")
    shown = subprocess.run(
        [sys.executable, "-m", "slurm_core.testing.cluster", "--help"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "NOT FOR PRODUCTION" in shown
    assert "NOT A SECURITY BOUNDARY" in " ".join(shown.split())
