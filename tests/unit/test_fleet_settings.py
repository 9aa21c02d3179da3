"""The ``watch_fleet`` setting: clients made ``from_settings`` share their watch through a
real redis-server (the ``redis_server`` fixture), and its password shows nowhere."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from slurm_core import AsyncSlurmClient, ConfigurationError, SlurmClient
from slurm_core.config import resolve_settings, settings_from_mapping
from slurm_core.testing import FakeSlurmServer
from slurm_core.testing.redis import LocalRedis
from slurm_core.watch import RedisFleet, WatchOptions, namespace
from slurm_core.watch._hub import _fleets

PASSWORD = "s3cret-fleet-pw"
TOKEN = "fake-token-for-alice"
FAST = WatchOptions(min_interval=0.2, initial_interval=0.2, max_interval=0.5)


class _Secret:
    """What a pydantic ``SecretStr`` offers the parser."""

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value


@pytest.fixture
def fleet_url(redis_server: LocalRedis) -> Iterator[str]:
    redis.Redis.from_url(redis_server.url).config_set("requirepass", PASSWORD)
    yield f"redis://:{PASSWORD}@127.0.0.1:{redis_server.port}/0"
    for fleet in list(_fleets.values()):
        fleet.close()
    _fleets.clear()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _settings(fake: FakeSlurmServer, fleet: Any, **more: Any) -> Any:
    values = {"url": fake.url, "token": TOKEN, "user": "alice", "watch_fleet": fleet, **more}
    return settings_from_mapping(values)


def test_clients_from_settings_share_their_watch_through_redis(
    fleet_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeSlurmServer(api_version="v0.0.42", realtime=True, default_runtime=0.5)
    settings = _settings(fake, _Secret(fleet_url))
    assert settings.watch_fleet == fleet_url
    with (
        SlurmClient.from_settings(settings, transport=fake.transport()) as a,
        SlurmClient.from_settings(settings, transport=fake.transport()) as b,
    ):
        a.jobs.watch_options = FAST
        fleet = a.jobs.watcher.brain.fleet
        assert isinstance(fleet, RedisFleet)
        assert b.jobs.watcher.brain.fleet is fleet  # one fleet (one Redis thread) per process
        job = a.jobs.submit().command(["true"]).execute().job_id
        assert b.jobs.wait(job, timeout=30).state.is_success
        shown = " ".join(
            repr(x) for x in (settings, a, a._http.options, fleet, dict(settings.sources))
        )
    assert fleet.stats["published"] >= 1  # the loop's polls went through the fleet
    store = redis.Redis.from_url(fleet_url, decode_responses=True)
    states = store.hgetall(f"{namespace(fake.url, 'alice')}:states")
    assert states[str(job)] in ("PENDING", "RUNNING", "COMPLETED")  # what a poll saw
    stored = " ".join(
        f"{k}={store.dump(k)!r}" for k in store.scan_iter("*")
    )  # every key, every value
    assert TOKEN not in stored
    assert PASSWORD not in stored + shown + caplog.text


@pytest.mark.anyio
async def test_async_clients_from_settings_share_it_too(fleet_url: str) -> None:
    fake = FakeSlurmServer(api_version="v0.0.45")
    settings = _settings(fake, fleet_url)
    async with AsyncSlurmClient.from_settings(settings, transport=fake.transport()) as client:
        assert isinstance(client.jobs.watcher.brain.fleet, RedisFleet)


def test_without_the_setting_nothing_is_shared() -> None:
    fake = FakeSlurmServer(api_version="v0.0.42")
    with SlurmClient.from_settings(_settings(fake, None), transport=fake.transport()) as client:
        assert client.jobs.watcher.brain.fleet is None


def test_without_a_user_name_the_fleet_is_not_used_and_says_so(
    fleet_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeSlurmServer(api_version="v0.0.42")
    settings = settings_from_mapping({"url": fake.url, "token": TOKEN, "watch_fleet": fleet_url})
    with SlurmClient.from_settings(settings, transport=fake.transport()) as client:
        assert client.jobs.watcher.brain.fleet is None
    assert "set user_name" in caplog.text
    assert PASSWORD not in caplog.text


@pytest.mark.parametrize("bad", ["http://redis:6379", "s3cret-fleet-pw", 42])
def test_a_bad_fleet_url_is_refused_naming_the_field_not_its_value(bad: Any) -> None:
    fake = FakeSlurmServer(api_version="v0.0.42")
    with pytest.raises(ConfigurationError) as caught:
        _settings(fake, bad)
    assert caught.value.field == "watch_fleet"
    assert str(bad) not in str(caught.value)


def test_env_and_config_file_give_it_too(tmp_path: Path) -> None:
    url = f"redis://:{PASSWORD}@redis.example:6379/0"
    env = {"SLURM_REST_URL": "http://127.0.0.1:6820", "SLURM_JWT": TOKEN, "HOME": str(tmp_path)}
    settings = resolve_settings(env={**env, "SLURM_WATCH_FLEET": url})
    assert (settings.watch_fleet, settings.sources["watch_fleet"]) == (
        url,
        "env SLURM_WATCH_FLEET",
    )
    config = tmp_path / "config.toml"
    config.write_text(f'[default]\nwatch_fleet = "{url}"\n')
    from_file = resolve_settings(env={**env, "SLURM_CLIENT_CONFIG": str(config)})
    assert from_file.watch_fleet == url
    assert PASSWORD not in repr(settings) + repr(from_file) + repr(from_file.client_options())
