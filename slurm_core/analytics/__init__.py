"""Analytics on real accounting data: start-time estimates, costs, compliance, scaling.

* ``client.predictions.estimate_start_time(spec_or_job_id)`` -> :class:`StartEstimate`
* ``client.costs.for_user("alice").in_time_range(a, b).with_rates(card).get()``
  -> :class:`CostReport` (``decimal.Decimal`` money; totals reconcile with the rows)
* :class:`ComplianceAuditor` -> user activity, resource usage, security events
  (JSON/CSV/HTML), with the client's own writes from an :class:`AuditLog`
* :class:`ResourceOptimizer` -> queue-driven node scaling through a :class:`NodeScaler`

Example::

    from slurm_core.analytics import RateCard, TimeRange

    costs = (client.costs.in_time_range(TimeRange.last(timedelta(days=30)))
             .with_rates(RateCard(cpu_hour=0.02, gpu_hour=1.5)).with_breakdown().get())
    print(costs.total, dict(costs.by_account))

Names are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "TimeRange": "._common",
    "RateCard": "._rates",
    "CostReport": ".costs",
    "CostRow": ".costs",
    "CostQuery": ".costs",
    "AsyncCostQuery": ".costs",
    "StartEstimate": ".predictions",
    "AuditLog": ".audit",
    "AuditEntry": ".audit",
    "VerifyResult": ".audit",
    "ComplianceAuditor": ".compliance",
    "ComplianceReport": ".compliance",
    "ReportBuilder": ".compliance",
    "ActivityEvent": "._findings",
    "SecurityEvent": "._findings",
    "UsageRow": "._findings",
    "UserActivity": "._findings",
    "ResourceOptimizer": ".scaling",
    "ScalingDecision": ".scaling",
    "NodeScaler": ".scaling",
    "RestNodeScaler": ".scaling",
    "CallbackScaler": ".scaling",
}

__all__ = [
    "ActivityEvent",
    "AsyncCostQuery",
    "AuditEntry",
    "AuditLog",
    "CallbackScaler",
    "ComplianceAuditor",
    "ComplianceReport",
    "CostQuery",
    "CostReport",
    "CostRow",
    "NodeScaler",
    "RateCard",
    "ReportBuilder",
    "ResourceOptimizer",
    "RestNodeScaler",
    "ScalingDecision",
    "SecurityEvent",
    "StartEstimate",
    "TimeRange",
    "UsageRow",
    "UserActivity",
    "VerifyResult",
]

if TYPE_CHECKING:
    from ._common import TimeRange
    from ._findings import ActivityEvent, SecurityEvent, UsageRow, UserActivity
    from ._rates import RateCard
    from .audit import AuditEntry, AuditLog, VerifyResult
    from .compliance import ComplianceAuditor, ComplianceReport, ReportBuilder
    from .costs import AsyncCostQuery, CostQuery, CostReport, CostRow
    from .predictions import StartEstimate
    from .scaling import (
        CallbackScaler,
        NodeScaler,
        ResourceOptimizer,
        RestNodeScaler,
        ScalingDecision,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'slurm_core.analytics' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
