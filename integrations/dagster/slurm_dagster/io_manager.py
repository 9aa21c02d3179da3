"""``SlurmIOManager``: asset values on the cluster's shared filesystem, where jobs read them.

Layout under ``base_dir`` (a directory every cluster node and the Dagster process see at the
same path)::

    <base_dir>/<asset key path...>/<partition key or "__all__">.pkl    a pickled Python value
    <base_dir>/<asset key path...>/<partition key or "__all__">.path   a file output: one line,
                                                                      the file's absolute path

An asset that returns a :class:`pathlib.Path` (typically a file or directory its SLURM job
wrote) is stored as a pointer: the ``.path`` file records where the data is and nothing is
copied. Any other value is pickled. Downstream, an input annotated as ``Path`` receives the
location (the ``.pkl`` file, or the recorded path) so its SLURM job can read it by path;
any other annotation receives the value (a pointer loads as a ``Path``).
:func:`asset_dir` tells an asset where to have its job write.

Ops outputs (no asset key) go to ``<base_dir>/<step key>/<output name>/__all__.pkl``.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dagster import ConfigurableIOManager, InputContext, OutputContext
from pydantic import Field

__all__ = ["ALL_PARTITIONS", "SlurmIOManager", "asset_dir"]

ALL_PARTITIONS = "__all__"
"""File stem of an unpartitioned asset's value."""


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


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # jobs run as another user: let them read it
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class SlurmIOManager(ConfigurableIOManager):
    """Stores asset outputs under ``base_dir`` on the shared filesystem (layout in the
    module docstring: ``<base_dir>/<asset key path>/<partition or "__all__">.pkl``, or a
    ``.path`` pointer for :class:`~pathlib.Path` outputs).

    Example::

        defs = Definitions(
            assets=[features, model],
            resources={"io_manager": SlurmIOManager(base_dir="/shared/dagster")},
        )
    """

    base_dir: str = Field(
        description="Directory on the shared filesystem, at the same path on the Dagster "
        "host and on the cluster nodes."
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
        pointer, pickled = base.with_suffix(".path"), base.with_suffix(".pkl")
        if isinstance(obj, Path):
            target = obj.expanduser().absolute()
            _atomic_write(pointer, f"{target}\n".encode())
            pickled.unlink(missing_ok=True)
            context.add_output_metadata({"path": str(target), "stored_as": "path"})
            context.log.debug(f"SlurmIOManager: {pointer} -> {target}")
        else:
            _atomic_write(pickled, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
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
        if pointer.exists():
            return Path(pointer.read_text(encoding="utf-8").strip())
        if wants_path:
            if not pickled.exists():
                raise FileNotFoundError(f"SlurmIOManager: no stored value at {pickled}")
            return pickled
        with pickled.open("rb") as fh:
            return pickle.load(fh)  # noqa: S301 - our own files on the shared filesystem
