"""``SlurmIOManager``: asset values on the cluster's shared filesystem, where jobs read them.

Layout under ``base_dir`` (a directory every cluster node and the Dagster process see at the
same path)::

    <base_dir>/<asset key path...>/<partition key or "__all__">.pkl    a pickled Python value
    <base_dir>/<asset key path...>/<partition key or "__all__">.path   a file output: one line,
                                                                      the file's absolute path
    <base_dir>/<asset key path...>/<partition key or "__all__">.sig    HMAC-SHA256 of the one
                                                                      above (hex, one line)

An asset that returns a :class:`pathlib.Path` (typically a file or directory its SLURM job
wrote) is stored as a pointer: the ``.path`` file records where the data is and nothing is
copied. Any other value is pickled. Downstream, an input annotated as ``Path`` receives the
location (the ``.pkl`` file, or the recorded path) so its SLURM job can read it by path;
any other annotation receives the value (a pointer loads as a ``Path``).
:func:`asset_dir` tells an asset where to have its job write.

Ops outputs (no asset key) go to ``<base_dir>/<step key>/<output name>/__all__.pkl``.

Trust: a shared filesystem is writable by other users, and unpickling runs code, so Dagster
loads nothing it cannot prove it wrote. Each ``.pkl`` and ``.path`` is signed with
``secret_key`` (HMAC-SHA256 over the bytes, the asset key, the partition and, for a pointer,
the owner and type of the file it points to); a load checks the signature with
:func:`hmac.compare_digest` before unpickling or returning a path, and opens every file
without following links, as a regular file owned by this process's user. Without a
``secret_key`` values are still written (jobs may read them) but never loaded: a typed
:class:`~slurm_core.ConfigurationError` says how to set the key. A file that fails a check
raises :class:`UntrustedFileError`. The key itself is never written, logged or shown.

Modes: ``.path`` and ``.sig`` are 0600 (only this process reads them). A ``.pkl`` is read
by the downstream asset's job, which runs as its SLURM user: with ``job_group`` (a group the
jobs' users are in) it is 0640 in 0750 directories of that group, otherwise 0644 in 0755
directories (readable by every local user, writable by none but this process's).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import pickle
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dagster import ConfigurableIOManager, InputContext, OutputContext
from pydantic import Field

from slurm_core import ConfigurationError
from slurm_dagster._files import (
    UntrustedFileError,
    make_dirs,
    read_checked,
    resolve_gid,
    write_atomic,
)
from slurm_dagster._settings import secret_value

__all__ = ["ALL_PARTITIONS", "SlurmIOManager", "UntrustedFileError", "asset_dir"]

ALL_PARTITIONS = "__all__"
"""File stem of an unpartitioned asset's value."""

_MAC_DOMAIN = b"slurm_dagster.SlurmIOManager v1"
_MIN_KEY_CHARS = 32
_SMALL_FILE = 64 * 1024  # a .path or .sig is one line


def _safe(part: str) -> str:
    if not part or part in (".", "..") or "/" in part or "\x00" in part:
        raise ValueError(f"SlurmIOManager: {part!r} cannot be a path component")
    return part


def asset_dir(base_dir: str | os.PathLike[str], key_path: Sequence[str]) -> Path:
    """Where :class:`SlurmIOManager` keeps the asset whose key path is ``key_path``.

    Example::

        out = asset_dir("/shared/dagster", ["ml", "features"])   # /shared/dagster/ml/features
    """
    return Path(base_dir).joinpath(*(_safe(p) for p in key_path))


def _target_binding(target: Path) -> str:
    """What a pointer's signature binds about the file it points to: its owner and type
    (so a target replaced by another user's file, or by a link, no longer verifies)."""
    st = os.lstat(target)
    kind = "dir" if stat.S_ISDIR(st.st_mode) else "file" if stat.S_ISREG(st.st_mode) else "other"
    return f"{st.st_uid}:{kind}"


class SlurmIOManager(ConfigurableIOManager):
    """Stores asset outputs under ``base_dir`` on the shared filesystem (layout and what is
    trusted in the module docstring: ``<base_dir>/<asset key path>/<partition or
    "__all__">.pkl`` or a ``.path`` pointer for :class:`~pathlib.Path` outputs, each signed
    with ``secret_key``).

    Example::

        defs = Definitions(
            assets=[features, model],
            resources={"io_manager": SlurmIOManager(
                base_dir="/shared/dagster",
                secret_key=EnvVar("SLURM_DAGSTER_IO_KEY"),   # e.g. `openssl rand -hex 32`
                job_group="hpc-users",
            )},
        )
    """

    base_dir: str = Field(
        description="Directory on the shared filesystem, at the same path on the Dagster "
        "host and on the cluster nodes."
    )
    secret_key: str | None = Field(
        default=None,
        repr=False,
        description="Key signing the stored files (at least 32 characters, the same for "
        "every run); without it nothing is loaded back. Use EnvVar('SLURM_DAGSTER_IO_KEY') "
        "so the key stays out of the stored run config.",
    )
    job_group: str | None = Field(
        default=None,
        description="A group the jobs' users are in (name or gid): pickles become 0640 and "
        "new directories 0750 of that group, instead of readable by every local user.",
    )

    # ------------------------------------------------------------------ layout
    def _key_dir(self, context: InputContext | OutputContext) -> Path:
        if context.has_asset_key:
            return asset_dir(self.base_dir, context.asset_key.path)
        # An op output (no asset): keyed by step and output name.
        if isinstance(context, InputContext):
            upstream = context.upstream_output
            if upstream is None:
                raise ValueError("SlurmIOManager: this input has no upstream output to load")
            return asset_dir(self.base_dir, [upstream.step_key, upstream.name])
        return asset_dir(self.base_dir, [context.step_key, context.name])

    def _stems(self, context: InputContext | OutputContext) -> list[str]:
        if context.has_asset_partitions:
            keys = context.asset_partition_keys
            return [_safe(k) for k in keys]
        return [ALL_PARTITIONS]

    # ------------------------------------------------------------------ signing
    def _key(self) -> bytes | None:
        value = secret_value(self.secret_key)
        if not value:
            return None
        if len(value) < _MIN_KEY_CHARS:
            raise ConfigurationError(
                f"SlurmIOManager: secret_key is shorter than {_MIN_KEY_CHARS} characters "
                "(make one with `openssl rand -hex 32`)"
            )
        return value.encode()

    def _required_key(self, path: Path) -> bytes:
        key = self._key()
        if key is None:
            raise ConfigurationError(
                f"SlurmIOManager: not loading {path}: without secret_key a file this IO "
                "manager wrote cannot be told from one another user planted. Set secret_key "
                "(e.g. secret_key=EnvVar('SLURM_DAGSTER_IO_KEY'), at least 32 random "
                "characters, the same for every run) and materialize the upstream asset again."
            )
        return key

    def _mac(self, key: bytes, kind: str, base: Path, binding: str, payload: bytes) -> str:
        rel = base.relative_to(self.base_dir).as_posix()
        mac = hmac.new(key, digestmod=hashlib.sha256)
        # Fixed fields first, none holding a NUL; the payload last, so the framing is unique.
        mac.update(b"\0".join([_MAC_DOMAIN, kind.encode(), rel.encode(), binding.encode()]))
        mac.update(b"\0")
        mac.update(payload)
        return mac.hexdigest()

    def _check_signature(
        self, path: Path, kind: str, base: Path, binding: str, data: bytes
    ) -> None:
        """Raise unless ``data`` (read from ``path``) carries this key's signature."""
        key = self._required_key(path)
        sig = base.with_suffix(".sig")
        try:
            raw = read_checked(sig, {os.geteuid()}, _SMALL_FILE)
        except FileNotFoundError:
            raise UntrustedFileError(path, f"no signature ({sig.name} is missing)") from None
        stored = raw.decode("ascii", "replace").strip()
        if not hmac.compare_digest(stored, self._mac(key, kind, base, binding, data)):
            raise UntrustedFileError(
                path,
                "signature does not match (not written by this IO manager with this key, "
                "or what it points to changed owner or type)",
            )

    def _sign(
        self, context: OutputContext, base: Path, kind: str, binding: str, data: bytes
    ) -> None:
        sig = base.with_suffix(".sig")
        key = self._key()
        if key is None:
            sig.unlink(missing_ok=True)
            context.log.warning(
                f"SlurmIOManager: no secret_key, so {base.name}.{kind} is stored unsigned and "
                "will not be loaded back (jobs can still read it by path)"
            )
            return
        write_atomic(sig, f"{self._mac(key, kind, base, binding, data)}\n".encode(), 0o600)

    # ------------------------------------------------------------------ I/O
    def handle_output(self, context: OutputContext, obj: Any) -> None:
        if obj is None and context.dagster_type.is_nothing:
            return
        stems = self._stems(context)
        if len(stems) != 1:
            raise ValueError(
                "SlurmIOManager: an output spanning several partitions cannot be stored "
                "(return one value per partition)"
            )
        base = self._key_dir(context) / stems[0]
        gid = None if self.job_group is None else resolve_gid(self.job_group, "job_group")
        # Jobs must reach the pickles (x on the directories); a group narrows that to them.
        make_dirs(base.parent, 0o750 if gid is not None else 0o755, gid)
        pointer, pickled = base.with_suffix(".path"), base.with_suffix(".pkl")
        if isinstance(obj, Path):
            target = Path(os.path.realpath(obj.expanduser()))
            if not os.path.lexists(target):
                raise FileNotFoundError(
                    f"SlurmIOManager: the returned path {target} does not exist"
                )
            data = f"{target}\n".encode()
            write_atomic(pointer, data, 0o600)  # only this process reads pointers
            self._sign(context, base, "path", _target_binding(target), data)
            pickled.unlink(missing_ok=True)
            context.add_output_metadata({"path": str(target), "stored_as": "path"})
            context.log.debug(f"SlurmIOManager: {pointer} -> {target}")
        else:
            data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
            # The downstream job (another user) reads it: its group, or everyone, may read.
            write_atomic(pickled, data, 0o640 if gid is not None else 0o644, gid)
            self._sign(context, base, "pkl", "", data)
            pointer.unlink(missing_ok=True)
            context.add_output_metadata({"path": str(pickled), "stored_as": "pickle"})

    def load_input(self, context: InputContext) -> Any:
        wants_path = context.dagster_type.typing_type in (Path, os.PathLike)
        values = [self._load_one(context, stem, wants_path) for stem in self._stems(context)]
        if context.has_asset_partitions and len(context.asset_partition_keys) != 1:
            return dict(zip(context.asset_partition_keys, values, strict=True))
        return values[0]

    def _load_one(self, context: InputContext, stem: str, wants_path: bool) -> Any:
        base = self._key_dir(context) / stem
        pointer, pickled = base.with_suffix(".path"), base.with_suffix(".pkl")
        if os.path.lexists(pointer):
            return self._load_pointer(pointer, base)
        if not os.path.lexists(pickled):
            raise FileNotFoundError(f"SlurmIOManager: no stored value at {pickled}")
        self._required_key(pickled)  # before reading a possibly large planted file
        data = read_checked(pickled, {os.geteuid()})
        self._check_signature(pickled, "pkl", base, "", data)
        if wants_path:
            return pickled
        return pickle.loads(data)  # noqa: S301 - its signature was verified just above

    def _load_pointer(self, pointer: Path, base: Path) -> Path:
        self._required_key(pointer)
        data = read_checked(pointer, {os.geteuid()}, _SMALL_FILE)
        target = Path(data.decode("utf-8", "replace").strip())
        if not target.is_absolute() or os.path.realpath(target) != str(target):
            raise UntrustedFileError(pointer, f"a symbolic link now lies on the way to {target}")
        try:
            binding = _target_binding(target)
        except FileNotFoundError:
            raise FileNotFoundError(
                f"SlurmIOManager: {pointer} points to {target}, which is gone"
            ) from None
        self._check_signature(pointer, "path", base, binding, data)
        return target
