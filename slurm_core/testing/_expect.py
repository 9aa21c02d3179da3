"""Expectations, argument matchers and recorded calls of the mock client.

Arguments are bound to the real method's signature (taken from
:class:`~slurm_core.SlurmClientProtocol`), so ``get(5)`` and ``get(job_id=5)`` are the same
call, and defaults count: an expectation ``with_args(5)`` for ``cancel`` does not match
``cancel(5, signal="USR1")`` (use :data:`ANY` for "don't care").
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._protocol import (
    AccountingProtocol,
    JobsProtocol,
    LicensesProtocol,
    NodesProtocol,
    PartitionsProtocol,
    ReservationsProtocol,
)

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "ANY",
    "METHODS",
    "Expectation",
    "Matcher",
    "MockCall",
    "instance_of",
    "matching",
]

_RESOURCES: dict[str, type] = {
    "jobs": JobsProtocol,
    "nodes": NodesProtocol,
    "partitions": PartitionsProtocol,
    "reservations": ReservationsProtocol,
    "licenses": LicensesProtocol,
    "accounting": AccountingProtocol,
}
_ALIASES = {"jobs.submit_spec": "jobs.submit"}
"""``submit().…execute()`` and ``submit_spec(spec)`` are one operation: ``jobs.submit``."""


def _signatures() -> dict[str, inspect.Signature]:
    out = {
        "ping": inspect.Signature(return_annotation="list[Ping]"),
        "diag": inspect.Signature(return_annotation="Diag"),
    }
    for resource, proto in _RESOURCES.items():
        for name, func in vars(proto).items():
            if name.startswith("_") or not callable(func):
                continue
            sig = inspect.signature(func)
            params = list(sig.parameters.values())[1:]  # no self
            out[f"{resource}.{name}"] = inspect.Signature(
                params, return_annotation=sig.return_annotation
            )
    # jobs.submit is expected and recorded with the spec the builder produced
    spec = inspect.Parameter("spec", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    out["jobs.submit"] = inspect.Signature([spec], return_annotation="SubmittedJob")
    del out["jobs.submit_spec"]
    return out


METHODS: Mapping[str, inspect.Signature] = _signatures()
"""Every method the mock can expect, with the signature its arguments bind to."""


def canonical(method: str) -> str:
    """The method name expectations use (``ValueError`` naming the known ones)."""
    method = _ALIASES.get(method, method)
    if method not in METHODS:
        known = ", ".join(sorted(METHODS))
        raise ValueError(f"unknown method {method!r}; known: {known}")
    return method


def bind(method: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments by parameter name, defaults applied (``TypeError`` like a real call)."""
    bound = METHODS[method].bind(*args, **kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


# ----------------------------------------------------------------------- matchers ---------
class Matcher:
    """An argument matcher: ``matches(value)``, shown as ``description`` in messages."""

    def __init__(self, predicate: Callable[[Any], bool], description: str) -> None:
        self._predicate = predicate
        self.description = description

    def matches(self, value: Any) -> bool:
        """Whether ``value`` is acceptable."""
        try:
            return bool(self._predicate(value))
        except Exception:  # a predicate that cannot handle the value does not match
            return False

    def __repr__(self) -> str:
        return self.description

    def __eq__(self, other: object) -> bool:  # so ANY == x works in plain comparisons too
        return self.matches(other)

    __hash__ = None  # type: ignore[assignment]


ANY = Matcher(lambda _: True, "ANY")
"""Matches any value.

Example::

    mock.expect("jobs.cancel").with_args(ANY, signal="USR1")
"""


def instance_of(*types: type) -> Matcher:
    """Matches instances of ``types``.

    Example::

        mock.expect("jobs.submit").with_args(instance_of(JobSpec)).returns(make_submitted(1))
    """
    names = " | ".join(t.__name__ for t in types)
    return Matcher(lambda v: isinstance(v, types), f"instance_of({names})")


def matching(predicate: Callable[[Any], bool], description: str | None = None) -> Matcher:
    """Matches values for which ``predicate`` is true.

    Example::

        mock.expect("jobs.get").with_args(matching(lambda i: int(i) > 100, "id > 100"))
    """
    name = description or getattr(predicate, "__name__", "predicate")
    return Matcher(predicate, f"matching({name})")


def _equal(expected: Any, actual: Any) -> bool:
    if isinstance(expected, Matcher):
        return expected.matches(actual)
    return bool(expected == actual)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def format_call(method: str, arguments: Mapping[str, Any]) -> str:
    """``jobs.get(5)``-style text, leaving out arguments equal to their defaults."""
    sig = METHODS[method]
    parts = []
    for name, param in sig.parameters.items():
        if name not in arguments:
            continue
        value = arguments[name]
        if param.default is not inspect.Parameter.empty and value is param.default:
            continue
        if param.kind is inspect.Parameter.KEYWORD_ONLY:
            parts.append(f"{name}={_show(value)}")
        else:
            parts.append(_show(value))
    return f"{method}({', '.join(parts)})"


# ------------------------------------------------------------------- calls, expectations ---
class MockCall:
    """One call the mock received: ``method`` (``"jobs.get"``) and ``arguments`` by name.

    Example::

        assert mock.calls[0].method == "jobs.submit"
        assert mock.calls[0].arguments["spec"].partition == "test"
    """

    def __init__(self, method: str, arguments: dict[str, Any]) -> None:
        self.method = method
        self.arguments = arguments
        self.expectation: Expectation | None = None

    def __getitem__(self, name: str) -> Any:
        return self.arguments[name]

    def __repr__(self) -> str:
        return format_call(self.method, self.arguments)


class Expectation:
    """One expected call: which method, which arguments, what happens, how often.

    Made by :meth:`MockSlurmClient.expect`; every method returns the expectation.

    Example::

        mock.expect("jobs.get").with_args(5).returns(make_job(job_id=5)).times(2)
        mock.expect("jobs.cancel").with_args(7).raises(NotFoundError("no job 7"))
    """

    _NO_RESULT: Any = object()

    def __init__(self, method: str) -> None:
        self.method = method
        self._args: tuple[Any, ...] | None = None
        self._kwargs: dict[str, Any] = {}
        self._matchers: list[Matcher] = []
        self._result: Any = self._NO_RESULT
        self._error: BaseException | None = None
        self._effect: Callable[..., Any] | None = None
        self.min_calls = 1
        self.max_calls: int | None = 1
        self.count = 0

    # ---------------------------------------------------------------- building ----------
    def with_args(self, *args: Any, **kwargs: Any) -> Self:
        """The exact arguments (matchers allowed), bound like the real method's."""
        sig = METHODS[self.method]
        try:
            sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{self.method}: {exc}") from None
        self._args, self._kwargs = args, dict(kwargs)
        return self

    def where(self, matcher: Matcher) -> Self:
        """Also require ``matcher`` to accept the bound arguments (a dict by name)."""
        self._matchers.append(matcher)
        return self

    def returns(self, value: Any) -> Self:
        """Return ``value`` when called."""
        self._result, self._error, self._effect = value, None, None
        return self

    def raises(self, error: BaseException) -> Self:
        """Raise ``error`` when called."""
        self._error, self._result, self._effect = error, self._NO_RESULT, None
        return self

    def calls(self, effect: Callable[..., Any]) -> Self:
        """Compute the result with ``effect(*args, **kwargs)`` (it may raise)."""
        self._effect, self._result, self._error = effect, self._NO_RESULT, None
        return self

    def times(self, n: int) -> Self:
        """Expect exactly ``n`` calls (default 1)."""
        if n < 1:
            raise ValueError("times(n) needs n >= 1; to forbid a call, just do not expect it")
        self.min_calls = self.max_calls = n
        return self

    def any_times(self) -> Self:
        """Allow any number of calls, including none (never reported as unmet)."""
        self.min_calls, self.max_calls = 0, None
        return self

    # ---------------------------------------------------------------- matching ----------
    @property
    def exhausted(self) -> bool:
        """Called as often as allowed."""
        return self.max_calls is not None and self.count >= self.max_calls

    @property
    def satisfied(self) -> bool:
        """Called at least as often as required."""
        return self.count >= self.min_calls

    def matches(self, call: MockCall) -> bool:
        """Whether ``call`` is this expectation's."""
        if call.method != self.method:
            return False
        if self._args is not None:
            expected = bind(self.method, self._args, self._kwargs)
            if expected.keys() != call.arguments.keys():
                return False
            if not all(_equal(expected[k], call.arguments[k]) for k in expected):
                return False
        return all(m.matches(call.arguments) for m in self._matchers)

    def answer(self, call: MockCall) -> Any:
        """Count the call and produce its result."""
        self.count += 1
        if self._error is not None:
            raise self._error
        if self._effect is not None:
            return self._effect(**call.arguments)
        if self._result is self._NO_RESULT:
            returns = METHODS[self.method].return_annotation
            if returns in (None, "None"):
                return None
            raise AssertionError(
                f"MockSlurmClient: the expectation {self.describe()} was called but says "
                "nothing to return; add .returns(...), .raises(...) or .calls(...)"
            )
        return self._result

    def describe(self) -> str:
        """``jobs.get(5)`` for messages (``jobs.get(*)`` when any arguments match)."""
        if self._args is None:
            text = f"{self.method}(*)"
        else:
            text = format_call(self.method, bind(self.method, self._args, self._kwargs))
        for m in self._matchers:
            text += f" where {m.description}"
        return text

    def status(self) -> str:
        """How often it was called against how often it should be."""
        most = "∞" if self.max_calls is None else str(self.max_calls)
        wanted = (
            str(self.min_calls) if self.min_calls == self.max_calls else f"{self.min_calls}..{most}"
        )
        return f"called {self.count}, expected {wanted}"

    def __repr__(self) -> str:
        return f"<Expectation {self.describe()} {self.status()}>"
