"""OpenTelemetry client spans around slurmrestd requests, when ``opentelemetry`` is importable.

Never a hard dependency: without the package (or with tracing off) the engine holds no
:class:`Tracing` at all, and without a configured SDK spans do not record.
"""

from __future__ import annotations

import importlib
from typing import Any

import httpx

from slurm_core._redact import redact_url

__all__ = ["Tracing", "tracing"]

_otel_cache: list[Any] = []  # [the opentelemetry.trace module, or None], looked up once


def _otel_trace() -> Any:
    """``opentelemetry.trace`` if importable, else None. Imported lazily, never required."""
    if not _otel_cache:
        try:
            _otel_cache.append(importlib.import_module("opentelemetry.trace"))
        except ImportError:
            _otel_cache.append(None)
    return _otel_cache[0]


def tracing(enabled: bool) -> Tracing | None:
    """A :class:`Tracing` if spans are wanted and OpenTelemetry is importable, else None."""
    otel = _otel_trace() if enabled else None
    return Tracing(otel) if otel is not None else None


class Tracing:
    """Starts and ends one client span per request (attempts are counted, not spanned)."""

    def __init__(self, otel: Any) -> None:
        self._otel = otel
        self._tracer = otel.get_tracer("slurm_core.http")

    def start(self, request: httpx.Request) -> Any:
        span = self._tracer.start_span(
            f"slurmrestd {request.method}", kind=self._otel.SpanKind.CLIENT
        )
        # Without an SDK configured spans do not record: skip building attributes.
        if span.is_recording():
            url = request.url
            span.set_attributes(
                {
                    "http.request.method": request.method,
                    "url.full": redact_url(url),
                    "server.address": url.host,
                    "server.port": url.port or (443 if url.scheme == "https" else 80),
                }
            )
        return span

    def end(self, span: Any, status: int | None, attempt: int, exc: BaseException | None) -> None:
        try:
            if span.is_recording():
                if status is not None:
                    span.set_attribute("http.response.status_code", status)
                if attempt > 1:
                    span.set_attribute("http.request.resend_count", attempt - 1)
                if exc is not None:
                    span.set_attribute("error.type", type(exc).__name__)
                    span.set_status(
                        self._otel.Status(self._otel.StatusCode.ERROR, type(exc).__name__)
                    )
        finally:
            span.end()
