"""What differs between the supported SLURM releases (Debian suite, ports, REST plugins)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["RELEASES", "RELEASE_SPECS", "Ports", "ReleaseSpec", "get_release"]

MAX_NODES = 32


@dataclass(frozen=True)
class Ports:
    """TCP ports of one cluster, all on 127.0.0.1.

    Example::

        >>> Ports.for_prefix(78).rest
        7820
    """

    slurmctld: int
    slurmd: int
    slurmdbd: int
    slurmrestd: int

    @classmethod
    def for_prefix(cls, prefix: int) -> Ports:
        base = prefix * 100
        return cls(base + 17, base + 18, base + 19, base + 20)

    @property
    def rest(self) -> int:
        return self.slurmrestd

    def node_port(self, index: int) -> int:
        """slurmd port of node ``index`` (1-based): x818 for node1, x841.. for the others."""
        if not 1 <= index <= MAX_NODES:
            raise ValueError(f"node index must be in 1..{MAX_NODES}, got {index}")
        return self.slurmd if index == 1 else self.slurmd - 18 + 40 + index

    def all(self, nodes: int = 1, accounting: bool = True) -> tuple[int, ...]:
        """Every port the cluster listens on."""
        ports = [self.slurmctld, self.slurmrestd, *(self.node_port(i) for i in range(1, nodes + 1))]
        if accounting:
            ports.append(self.slurmdbd)
        return tuple(sorted(ports))


@dataclass(frozen=True)
class ReleaseSpec:
    """One supported SLURM release and the Debian suite that ships it."""

    release: str
    suite: str
    port_prefix: int
    versions: tuple[str, ...]
    db_versions: tuple[str, ...] = ()
    # 22.05 names one plugin per version; later releases have one plugin for all versions.
    rest_plugins: tuple[str, ...] = ("openapi/slurmctld",)
    rest_db_plugins: tuple[str, ...] = ("openapi/slurmdbd",)
    # slurmd always loads a cgroup plugin. "disabled" exists from 23.02 on; 22.05's
    # autodetection fails on an empty /sys/fs/cgroup, so it is told cgroup/v1, which it
    # then never uses (proctrack/linuxproc, task/none).
    cgroup_plugin: str = "disabled"
    # trixie's and sid's libmariadb (11.8) breaks slurmdbd: use bookworm's (same soname).
    compat_libmariadb: bool = False
    # sid's Release files can be "expired" against this machine's clock.
    apt_check_valid_until: bool = True
    ports: Ports = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ports", Ports.for_prefix(self.port_prefix))

    @property
    def cluster_name(self) -> str:
        return "local" + self.release.replace(".", "")

    @property
    def probe_version(self) -> str:
        """Newest REST version, used for readiness checks."""
        return self.versions[-1]

    def rest_plugin_arg(self, accounting: bool) -> str:
        plugins = self.rest_plugins + (self.rest_db_plugins if accounting else ())
        return ",".join(plugins)


RELEASE_SPECS: dict[str, ReleaseSpec] = {
    spec.release: spec
    for spec in (
        ReleaseSpec(
            release="22.05",
            suite="bookworm",
            port_prefix=68,
            versions=("v0.0.36", "v0.0.37", "v0.0.38"),
            db_versions=("v0.0.36", "v0.0.37", "v0.0.38"),
            rest_plugins=("openapi/v0.0.36", "openapi/v0.0.37", "openapi/v0.0.38"),
            rest_db_plugins=("openapi/dbv0.0.36", "openapi/dbv0.0.37", "openapi/dbv0.0.38"),
            cgroup_plugin="cgroup/v1",
        ),
        ReleaseSpec(
            release="24.11",
            suite="trixie",
            port_prefix=78,
            versions=("v0.0.40", "v0.0.41", "v0.0.42"),
            db_versions=("v0.0.40", "v0.0.41", "v0.0.42"),
            compat_libmariadb=True,
        ),
        ReleaseSpec(
            release="26.05",
            suite="sid",
            port_prefix=88,
            versions=("v0.0.42", "v0.0.43", "v0.0.44", "v0.0.45"),
            db_versions=("v0.0.42", "v0.0.43", "v0.0.44", "v0.0.45"),
            compat_libmariadb=True,
            apt_check_valid_until=False,
        ),
    )
}


#: The supported releases, oldest first.
RELEASES: tuple[str, ...] = tuple(RELEASE_SPECS)


def get_release(release: str) -> ReleaseSpec:
    """The spec of ``release`` ("22.05", "24.11" or "26.05"); ValueError for others."""
    try:
        return RELEASE_SPECS[release]
    except KeyError:
        known = ", ".join(RELEASES)
        raise ValueError(f"unknown SLURM release {release!r}; known: {known}") from None
