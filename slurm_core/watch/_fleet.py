"""One state poll per interval for a whole fleet of processes, shared through Redis.

Every process wraps its own state source (``jobs/state``) with :meth:`RedisFleet.source`.
A background thread per process does all the Redis I/O, so the wrapped source stays a
plain sans-I/O operation that never blocks an event loop:

- it registers the job keys this process asks about (a sorted set, each entry expiring);
- it holds or contends for the leader lock (``SET NX PX``, renewed; the value carries an
  epoch, and a publish is a script that first checks the lock is still ours: a stale
  leader cannot publish over a new one);
- as leader, it publishes what the process polled: one hash replaced atomically (with a
  sequence number and the poll's send/receive times) plus a pub/sub notification;
- as follower, it reads the published states of its own keys when notified.

The wrapped source, when the watch asks for states: the leader polls the union of the
registered keys once per ``interval`` and answers from that; a follower answers from the
published hash and polls itself only keys not published yet; with Redis unreachable or no
live leader, each process polls its own keys (one warning per outage). An answer never
goes back in time: a state observed before the last answer was received is not used.

Redis layout (``<ns>`` is a hash of the cluster URL and the user; no token is stored)::

    slurm-client:fleet:{<ns>}:lock    leader lock, "<epoch>:<random>", PX ttl
    slurm-client:fleet:{<ns>}:epoch   counter of leaderships (the fencing epoch)
    slurm-client:fleet:{<ns>}:ids     sorted set: job key -> expiry (ms, server clock)
    slurm-client:fleet:{<ns>}:states  hash: job key -> "FLAG,FLAG" ("-": not known);
                                      _seq, _sent, _recv: the poll it comes from
    slurm-client:fleet:{<ns>}:seq     publish counter; channel ...:news announces changes
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import math
import os
import re
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .._engine import Op
from ._policy import env_floor
from ._source import StateSource

if TYPE_CHECKING:
    import redis

__all__ = ["RedisFleet"]

logger = logging.getLogger("slurm_core.watch")

_TICK = 0.1  # how long the thread waits for a notification before its next round
_KEY = re.compile(r"[0-9]{1,12}(_[0-9]{1,12})?")
_FLAG = re.compile(r"[A-Z_]{1,40}")
_MAX_VALUE = 512  # bytes of one published entry (a longer one is treated as missing)
_MAX_FLAGS = 16
_CHUNK = 1000  # keys per script call

# ARGV: ttl_ms, key... -> registers the keys until now+ttl (server clock); announces new ones.
_REGISTER = """
local t = redis.call('TIME')
local exp = t[1] * 1000 + math.floor(t[2] / 1000) + tonumber(ARGV[1])
local added = 0
for i = 2, #ARGV do added = added + redis.call('ZADD', KEYS[1], 'GT', exp, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[1]))
if added > 0 then redis.call('PUBLISH', KEYS[2], 'ids') end
return added
"""
# ARGV: max -> the live registered keys (short ones only, at most max), expired ones dropped.
_UNION = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local out = {}
for _, k in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf', 'LIMIT', 0, ARGV[1])) do
  if #k <= 25 then out[#out + 1] = k end
end
return out
"""
# KEYS: lock, epoch. ARGV: random, ttl_ms -> {1, token} if taken, else {0, pttl of the holder}.
_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  local token = redis.call('INCR', KEYS[2]) .. ':' .. ARGV[1]
  redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
  return {1, token}
end
return {0, redis.call('PTTL', KEYS[1])}
"""
# KEYS: lock. ARGV: token, ttl_ms (0: release) -> 1 if still ours.
_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) == 0 then redis.call('DEL', KEYS[1]) else
  redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
"""
# KEYS: lock, states, seq, news. ARGV: token, sent, recv, ttl_ms, key, value, ... -> seq or 0.
_PUBLISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local seq = redis.call('INCR', KEYS[3])
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], '_seq', seq, '_sent', ARGV[2], '_recv', ARGV[3])
for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('PUBLISH', KEYS[4], seq)
return seq
"""
# ARGV: max_len, key... -> {seq, sent, recv, value...}; a value over max_len comes back "!".
_READ = """
local out = redis.call('HMGET', KEYS[1], '_seq', '_sent', '_recv')
for i = 1, 3 do if out[i] and #out[i] > 32 then out[i] = false end end
local n = tonumber(ARGV[1])
for i = 2, #ARGV do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if v and #v > n then v = '!' end
  out[#out + 1] = v
end
return out
"""


@dataclass(frozen=True, slots=True)
class _Answer:
    flags: tuple[str, ...] | None  # None: slurmctld does not know the job
    sent: float  # wall-clock bounds of the poll that observed it
    received: float


def _encode(flags: Sequence[str] | None) -> str:
    if flags is None:
        return "-"
    return ",".join(f for f in flags if _FLAG.fullmatch(f))[:_MAX_VALUE]


def _decode(raw: bytes) -> tuple[str, ...] | None:
    """A published entry, or ValueError for anything this module would not have written."""
    text = raw.decode("ascii")
    if text == "-":
        return None
    flags = tuple(text.split(",")) if text else ()
    if len(flags) > _MAX_FLAGS or not all(_FLAG.fullmatch(f) for f in flags):
        raise ValueError("not a state")
    return flags


def _number(raw: object) -> float:
    value = float(raw.decode("ascii")) if isinstance(raw, bytes) else math.nan
    if not math.isfinite(value):
        raise ValueError("not a number")
    return value


def namespace(cluster_url: str, user: str) -> str:
    """The key prefix of one cluster and user (hashed: neither is readable in Redis)."""
    digest = hashlib.sha256(f"{cluster_url.rstrip('/')}\n{user}".encode()).hexdigest()[:32]
    return f"slurm-client:fleet:{{{digest}}}"


class RedisFleet:
    """A shared poller: N processes watching one cluster cost one state poll per interval.

    Needs ``pip install 'slurm-client[redis]'``. ``interval`` is the fleet's poll interval
    (raised to ``$SLURM_CLIENT_MIN_POLL_INTERVAL`` if that is higher); ``ttl`` is how long
    a silent leader keeps the lock (default: 3 intervals, at least 5 s); a process keeps
    its keys registered while it asked for states in the last ``hold`` seconds, and the
    lead while it asked in the last ``lead_idle`` (3 intervals, at least ``ttl``).
    ``stats`` counts this process's polls (``direct``: for itself alone), answers served
    from the fleet, publishes and leaderships.

    Example::

        fleet = RedisFleet("redis://127.0.0.1:6379/0", cluster_url=url, user="alice")
        source = fleet.source(inner)            # inner: the process's own jobs/state source
        states = run_sync(http, source.states(["41", "42"]))
        fleet.close()
    """

    def __init__(
        self,
        redis_url: str,
        *,
        cluster_url: str,
        user: str,
        interval: float = 1.0,
        ttl: float | None = None,
        hold: float = 60.0,
        max_ids: int = 50_000,
    ) -> None:
        for name, value in (("interval", interval), ("ttl", ttl), ("hold", hold)):
            if value is not None and (not math.isfinite(value) or value < 0):
                raise ValueError(f"RedisFleet.{name} must be a finite number >= 0, got {value!r}")
        if not cluster_url or not user:
            raise ValueError("RedisFleet needs cluster_url and user (they namespace the keys)")
        try:
            import redis  # noqa: F401  (an optional extra: fail at construction, clearly)
        except ImportError as exc:
            raise ImportError(
                "RedisFleet needs redis-py: pip install 'slurm-client[redis]'"
            ) from exc
        parts = urlsplit(redis_url)
        self._url = redis_url
        self._where = f"{parts.hostname}:{parts.port or 6379}"  # for logs: no password
        self.interval = max(float(interval), env_floor())
        self.ttl = float(ttl) if ttl is not None else max(5.0, 3 * self.interval)
        if self.ttl <= 0:
            raise ValueError(f"RedisFleet.ttl must be > 0, got {ttl!r}")
        self.hold = max(float(hold), self.ttl)
        # A leader that stops asking gives the lead up soon: it no longer polls for the others.
        self.lead_idle = max(self.ttl, 3 * self.interval)
        self.max_ids = max_ids
        ns = namespace(cluster_url, user)
        self._k = {n: f"{ns}:{n}" for n in ("lock", "epoch", "ids", "states", "seq", "news")}
        self._mu = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._closed = False
        self._atexit = False
        self._pid = os.getpid()
        # shared between the thread and the operations (under _mu)
        self._wanted: dict[str, float] = {}  # key -> monotonic time last asked
        self._registered: set[str] = set()
        self._union: list[str] = []
        self._snap: dict[str, _Answer] = {}  # published states of the keys we want
        self._answers: dict[str, _Answer] = {}  # what this process answered last
        self._outbox: dict[str, _Answer] | None = None
        self._token: str | None = None
        self._leading_until = -math.inf
        self._leader_until = -math.inf  # another process holds the lock until then
        self._connected = False
        self._warned = False
        self._last_call = -math.inf
        self._last_poll = -math.inf
        self.stats = {"polls": 0, "direct": 0, "served": 0, "published": 0, "leaderships": 0}

    # -- what the watch uses -------------------------------------------------------------
    def source(self, inner: StateSource) -> StateSource:
        """``inner`` (this process's own state source) shared with the fleet."""
        return _FleetSource(self, inner)

    @property
    def leading(self) -> bool:
        """True while this process holds the leader lock."""
        return self._token is not None and time.monotonic() < self._leading_until

    @property
    def connected(self) -> bool:
        """True while Redis answers (False: this process polls on its own)."""
        return self._connected

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Stop the thread, giving up the lock (idempotent); later questions poll directly."""
        self._closed = True
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(10)

    def __enter__(self) -> RedisFleet:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        role = "leader" if self.leading else "follower" if self._connected else "alone"
        return f"RedisFleet(redis={self._where!r}, interval={self.interval}, {role})"

    # -- the operation's side (memory only, never blocks) ----------------------------------
    def _plan(self, keys: list[str]) -> tuple[list[str], bool]:
        """The keys to poll now, and whether the answer is to be published."""
        now = time.monotonic()
        with self._mu:
            self._last_call = now
            for key in keys:
                self._wanted[key] = now
            self._start()
            if self._token is not None and now < self._leading_until:
                uncovered = any(k not in self._snap for k in keys)
                if uncovered or now - self._last_poll >= self.interval:
                    self._last_poll = now
                    return list(dict.fromkeys([*keys, *self._union]))[: self.max_ids], True
                return [], False
            if self._connected and now < self._leader_until:
                return [k for k in keys if k not in self._snap], False
        return keys, False  # no Redis or no live leader: on our own

    def _polled(self, keys: list[str], found: Mapping[str, Sequence[str]], publish: bool,
                sent: float, received: float) -> None:  # fmt: skip
        got = {k: _Answer(tuple(found[k]) if k in found else None, sent, received) for k in keys}
        with self._mu:
            self.stats["polls"] += 1
            if publish:
                self._snap = dict(got)
                self._outbox = got
            else:
                self.stats["direct"] += 1
            for key, answer in got.items():
                self._keep(key, answer)

    def _keep(self, key: str, answer: _Answer) -> None:
        """Take ``answer`` unless it may predate the last one (never go back in time)."""
        last = self._answers.get(key)
        if last is None or answer.sent >= last.received:
            self._answers[key] = answer

    def _answer(self, keys: list[str]) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        with self._mu:
            for key in keys:
                published = self._snap.get(key)
                if published is not None:
                    self._keep(key, published)
                    self.stats["served"] += 1
                answer = self._answers.get(key)
                if answer is not None and answer.flags is not None:
                    out[key] = answer.flags
        return out

    # -- the thread's side (all Redis I/O) -------------------------------------------------
    def _start(self) -> None:
        if self._closed:
            return
        if self._pid != os.getpid():  # a forked child: the parent's lock and thread are not ours
            self._pid, self._thread, self._token = os.getpid(), None, None
            self._leading_until = self._leader_until = -math.inf
            self._connected, self._registered, self._snap = False, set(), {}
        if self._thread is None or not self._thread.is_alive():
            if not self._atexit:  # at a normal exit, hand the lead on at once
                atexit.register(self.close)
                self._atexit = True
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="slurm-fleet", daemon=True)
            self._thread.start()

    def _connect(self) -> tuple[redis.Redis, Any]:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        timeout = min(2.0, self.ttl / 3)
        r = redis.Redis.from_url(
            self._url, socket_timeout=timeout, socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )  # fmt: skip
        pubsub = r.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(self._k["news"])
        return r, pubsub

    def _run(self) -> None:
        r: redis.Redis | None = None
        pubsub: Any = None
        rounds = _Rounds()
        while not self._stop.is_set():
            if time.monotonic() - self._last_call > self.hold:
                break  # nobody asked for a while: let go (the next question restarts us)
            try:
                if r is None:
                    r, pubsub = self._connect()
                    rounds = _Rounds()
                self._round(r, rounds)
                if pubsub.get_message(timeout=_TICK) is not None:
                    rounds.read = rounds.union = 0.0  # news: read again now
            except Exception as exc:  # redis, socket, a reply we would not write: an outage
                self._lost(exc)
                for conn in (pubsub, r):
                    if conn is not None:
                        _quietly(conn.close)
                r = pubsub = None
                self._stop.wait(min(1.0, self.ttl / 3))
        self._leave(r)
        for conn in (pubsub, r):
            if conn is not None:
                _quietly(conn.close)

    def _lost(self, exc: BaseException) -> None:
        with self._mu:
            was, self._connected = self._connected, False
            self._token, self._leading_until, self._leader_until = None, -math.inf, -math.inf
            self._snap.clear()
            warn, self._warned = not self._warned, True
        if warn:
            logger.warning(
                "Redis fleet at %s unreachable (%s): this process polls on its own",
                self._where, type(exc).__name__,
            )  # fmt: skip
        elif was:
            logger.info("Redis fleet at %s lost again: polling on our own", self._where)

    def _round(self, r: redis.Redis, rounds: _Rounds) -> None:
        now = time.monotonic()
        ttl_ms = int(self.ttl * 1000)
        with self._mu:
            if not self._connected:
                if self._warned:
                    logger.info("Redis fleet at %s is back: sharing polls again", self._where)
                self._connected, self._warned = True, False
            wanted = [k for k, t in self._wanted.items() if now - t <= self.hold]
            self._wanted = {k: self._wanted[k] for k in wanted}
            self._answers = {k: a for k, a in self._answers.items() if k in self._wanted}
            fresh = set(wanted) - self._registered
            outbox, self._outbox = self._outbox, None
            token = self._token
        if fresh or now >= rounds.register:
            for i in range(0, len(wanted), _CHUNK):
                part = wanted[i : i + _CHUNK]
                r.eval(_REGISTER, 2, self._k["ids"], self._k["news"], ttl_ms, *part)
            with self._mu:
                self._registered = set(wanted)
            rounds.register = now + self.ttl / 3
        idle = now - self._last_call > self.lead_idle
        if token is not None and (now >= rounds.lock or idle):
            ours = r.eval(_RENEW, 1, self._k["lock"], token, 0 if idle else ttl_ms)
            ours = 0 if idle else ours
            token = self._took(token if ours == 1 else None, now)
            rounds.lock = now + self.ttl / 5
        elif token is None and now >= rounds.lock and not idle:
            lock, epoch = self._k["lock"], self._k["epoch"]
            got = r.eval(_ACQUIRE, 2, lock, epoch, secrets.token_hex(8), ttl_ms)
            if got[0] == 1:
                token = self._took(got[1].decode("ascii"), now)
                logger.info("Redis fleet: this process leads (epoch %s)", str(token).split(":")[0])
            else:
                with self._mu:
                    self._leader_until = now + max(int(got[1]), 0) / 1000
            rounds.lock = now + self.ttl / 5
        if token is not None and now >= rounds.union:
            raw = r.eval(_UNION, 1, self._k["ids"], self.max_ids)
            union = [k.decode("ascii") for k in raw if _KEY.fullmatch(k.decode("ascii", "replace"))]
            with self._mu:
                self._union = union
            rounds.union = now + self.ttl / 3
        if token is not None and outbox:
            self._publish(r, token, outbox, ttl_ms)
        if token is None and (fresh or now >= rounds.read):
            self._read(r, wanted)
            rounds.read = now + self.ttl / 3

    def _took(self, token: str | None, now: float) -> str | None:
        with self._mu:
            if token is None and self._token is not None:
                logger.info("Redis fleet: another process took the lead")
            elif token is not None and self._token is None:
                self.stats["leaderships"] += 1
            self._token = token
            self._leading_until = now + self.ttl * 0.8 if token else -math.inf
        return token

    def _publish(self, r: redis.Redis, token: str, outbox: dict[str, _Answer], ttl_ms: int) -> None:
        sent = min(a.sent for a in outbox.values())
        received = max(a.received for a in outbox.values())
        args: list[str] = []
        for key, answer in outbox.items():
            args += [key, _encode(answer.flags)]
        keys = [self._k[n] for n in ("lock", "states", "seq", "news")]
        seq = r.eval(_PUBLISH, 4, *keys, token, repr(sent), repr(received), 10 * ttl_ms, *args)
        if seq == 0:  # fenced off: the lock changed hands
            self._took(None, time.monotonic())
        else:
            with self._mu:
                self.stats["published"] += 1

    def _read(self, r: redis.Redis, wanted: list[str]) -> None:
        snap: dict[str, _Answer] = {}
        for i in range(0, len(wanted), _CHUNK):
            part = wanted[i : i + _CHUNK]
            raw = r.eval(_READ, 1, self._k["states"], _MAX_VALUE, *part)
            if not isinstance(raw, list) or len(raw) != 3 + len(part) or raw[0] is None:
                return  # nothing published yet (or not by us): keep what we have
            try:
                sent, received = _number(raw[1]), _number(raw[2])
            except ValueError:
                logger.warning("Redis fleet: ignoring a malformed published snapshot")
                return
            for key, value in zip(part, raw[3:], strict=True):
                try:
                    if isinstance(value, bytes):
                        snap[key] = _Answer(_decode(value), sent, received)
                except (ValueError, UnicodeDecodeError):
                    continue  # a hostile or foreign entry: this key is polled directly
        with self._mu:
            self._snap = snap

    def _leave(self, r: redis.Redis | None) -> None:
        with self._mu:
            token, self._token = self._token, None
            self._leading_until = self._leader_until = -math.inf
            self._connected = False
            self._registered = set()
            self._snap.clear()
        if token is not None and r is not None:
            _quietly(lambda: r.eval(_RENEW, 1, self._k["lock"], token, 0))


@dataclass
class _Rounds:
    """When the thread next registers, checks the lock, reads the union and the states."""

    register: float = 0.0
    lock: float = 0.0
    union: float = 0.0
    read: float = 0.0


def _quietly(fn: Any) -> None:
    with contextlib.suppress(Exception):  # closing a connection to a Redis that is gone
        fn()


class _FleetSource:
    """A state source answering from the fleet's shared poll (see :class:`RedisFleet`)."""

    def __init__(self, fleet: RedisFleet, inner: StateSource) -> None:
        self._fleet, self._inner = fleet, inner

    def states(self, job_ids: Sequence[str]) -> Op[Mapping[str, Sequence[str]]]:
        keys = list(dict.fromkeys(job_ids))
        for key in keys:
            if not isinstance(key, str) or not _KEY.fullmatch(key):
                raise ValueError(f"job_ids: {key!r} is not a job key like '42' or '40_2'")
        poll, publish = self._fleet._plan(keys)
        if poll:
            sent = time.time()
            found = yield from self._inner.states(poll)
            self._fleet._polled(poll, found, publish, sent, time.time())
        return self._fleet._answer(keys)
