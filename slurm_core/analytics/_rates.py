"""``RateCard``: prices per resource-hour, with per-partition and per-QOS overrides."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Final

__all__ = ["RESOURCES", "Rate", "RateCard", "to_decimal"]

Rate = Decimal | int | float | str

RESOURCES: Final = ("cpu", "gpu", "mem", "node")
"""The named resources: CPUs, GPUs (``gres/gpu``), memory (GiB) and nodes."""

_KEYWORDS: Final = {
    "cpu_hour": "cpu",
    "gpu_hour": "gpu",
    "mem_gb_hour": "mem",
    "node_hour": "node",
}


def to_decimal(value: Rate, name: str) -> Decimal:
    """An exact, finite, non-negative ``Decimal``; floats go through ``str`` (0.02 stays
    ``Decimal('0.02')``, not its binary approximation)."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, float, str)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not number.is_finite() or number < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


def _rates(values: Mapping[str, Rate], where: str) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for key, value in values.items():
        resource = _KEYWORDS.get(key, key)
        if not isinstance(resource, str) or not resource:
            raise ValueError(f"{where}: rate names must be non-empty strings, got {key!r}")
        out[resource] = to_decimal(value, f"{where}[{key!r}]")
    return out


class RateCard:
    """Prices per resource-hour, as exact decimals.

    ``cpu_hour`` per allocated CPU, ``gpu_hour`` per allocated GPU (``gres/gpu``),
    ``mem_gb_hour`` per GiB (1024 MiB) of allocated memory, ``node_hour`` per allocated
    node. ``other`` prices any other TRES by its key per unit-hour (``"billing"``,
    ``"license/matlab"``, ``"gres/gpu:a100"``...). Unpriced resources cost nothing.

    Overrides by partition or QOS replace single rates (QOS wins over partition, both
    over the base card); keys are the keyword names above or TRES keys.

    Example::

        card = (RateCard(cpu_hour=0.02, gpu_hour=1.5, mem_gb_hour=0.005)
                .for_partition("gpu", gpu_hour=2.0)
                .for_qos("high", cpu_hour="0.05"))
        card.rates(partition="gpu", qos="normal")["gpu"]     # Decimal('2.0')
    """

    __slots__ = ("_base", "_partition", "_qos", "currency")

    def __init__(
        self,
        cpu_hour: Rate = 0,
        gpu_hour: Rate = 0,
        mem_gb_hour: Rate = 0,
        node_hour: Rate = 0,
        *,
        other: Mapping[str, Rate] | None = None,
        partitions: Mapping[str, Mapping[str, Rate]] | None = None,
        qos: Mapping[str, Mapping[str, Rate]] | None = None,
        currency: str = "",
    ) -> None:
        base = {
            "cpu": to_decimal(cpu_hour, "cpu_hour"),
            "gpu": to_decimal(gpu_hour, "gpu_hour"),
            "mem": to_decimal(mem_gb_hour, "mem_gb_hour"),
            "node": to_decimal(node_hour, "node_hour"),
        }
        extra = _rates(other or {}, "other")
        clash = set(extra) & set(RESOURCES)
        if clash:
            raise ValueError(f"other must not set {sorted(clash)}: use the keyword arguments")
        base.update(extra)
        self._base: Mapping[str, Decimal] = MappingProxyType(base)
        self._partition: Mapping[str, Mapping[str, Decimal]] = MappingProxyType(
            {
                p: MappingProxyType(_rates(r, f"partitions[{p!r}]"))
                for p, r in (partitions or {}).items()
            }
        )
        self._qos: Mapping[str, Mapping[str, Decimal]] = MappingProxyType(
            {q: MappingProxyType(_rates(r, f"qos[{q!r}]")) for q, r in (qos or {}).items()}
        )
        self.currency = currency

    @property
    def base(self) -> Mapping[str, Decimal]:
        """The base rates by resource (``cpu``, ``gpu``, ``mem``, ``node``, other TRES keys)."""
        return self._base

    def _copy(
        self,
        partitions: Mapping[str, Mapping[str, Decimal]] | None = None,
        qos: Mapping[str, Mapping[str, Decimal]] | None = None,
    ) -> RateCard:
        new = RateCard.__new__(RateCard)
        new._base = self._base
        new._partition = MappingProxyType(
            dict(partitions if partitions is not None else self._partition)
        )
        new._qos = MappingProxyType(dict(qos if qos is not None else self._qos))
        new.currency = self.currency
        return new

    def for_partition(self, partition: str, **rates: Rate) -> RateCard:
        """A copy with rates overridden for jobs in ``partition``.

        Example::

            card = RateCard(cpu_hour=0.02).for_partition("gpu", cpu_hour=0.03, gpu_hour=2)
        """
        merged = {**self._partition.get(partition, {}), **_rates(rates, partition)}
        return self._copy(partitions={**self._partition, partition: MappingProxyType(merged)})

    def for_qos(self, qos: str, **rates: Rate) -> RateCard:
        """A copy with rates overridden for jobs of ``qos`` (wins over partition overrides).

        Example::

            card = RateCard(cpu_hour=0.02).for_qos("high", cpu_hour=0.04)
        """
        merged = {**self._qos.get(qos, {}), **_rates(rates, qos)}
        return self._copy(qos={**self._qos, qos: MappingProxyType(merged)})

    def rates(self, *, partition: str | None = None, qos: str | None = None) -> dict[str, Decimal]:
        """The rates that apply to a job of ``partition`` and ``qos``.

        Example::

            RateCard(cpu_hour=1).rates(partition="debug")     # {'cpu': Decimal('1'), ...}
        """
        out = dict(self._base)
        if partition is not None:
            # A job submitted to several partitions ran in one: accounting reports it.
            out.update(self._partition.get(partition, {}))
        if qos is not None:
            out.update(self._qos.get(qos, {}))
        return out

    def node_hour_cost(self, cpus: int, memory_mib: int, gpus: int = 0) -> Decimal:
        """What one hour of a whole node of this size costs at the base rates.

        Example::

            RateCard(cpu_hour=0.02, gpu_hour=1.5).node_hour_cost(cpus=64, memory_mib=0, gpus=4)
        """
        b = self._base
        return (
            b["node"]
            + b["cpu"] * cpus
            + b["gpu"] * gpus
            + b["mem"] * Decimal(memory_mib) / Decimal(1024)
        )

    def to_dict(self) -> dict[str, object]:
        """Plain data (rates as strings), e.g. for a report header."""
        return {
            "base": {k: str(v) for k, v in self._base.items()},
            "partitions": {
                p: {k: str(v) for k, v in r.items()} for p, r in self._partition.items()
            },
            "qos": {q: {k: str(v) for k, v in r.items()} for q, r in self._qos.items()},
            "currency": self.currency,
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RateCard) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(repr(self.to_dict()))

    def __repr__(self) -> str:
        rates = ", ".join(f"{k}={v}" for k, v in self._base.items() if v)
        extra = f", {len(self._partition)} partition/{len(self._qos)} qos overrides"
        return f"RateCard({rates or 'free'}{extra if self._partition or self._qos else ''})"
