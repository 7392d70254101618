"""The site's state, on SQLite and on a real Postgres server: the same behaviour on both, and
rate limits and claims that hold with several processes at once."""

from __future__ import annotations

import multiprocessing
import secrets
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import ValidationError

from curation.config import SiteConfig
from storage.site_state import CONFIRM_WITHIN_S, SiteState, SiteStateError
from synth.local_postgres import free_port

PROCESSES = 4


def fresh_database(url: str) -> str:
    """A new, empty database on the same server: each test sees only its own rows."""
    name = "t_" + secrets.token_hex(8)
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    return url.rsplit("/", 1)[0] + "/" + name


def execute(where: Path | str, sql: str, params: tuple[Any, ...]) -> None:
    """A statement straight on the database, past the class (to age rows)."""
    if isinstance(where, Path):
        with closing(sqlite3.connect(where)) as db, db:
            db.execute(sql, params)
    else:
        with psycopg.connect(where, autocommit=True) as pg:
            pg.execute(sql.replace("?", "%s"), params)


@pytest.fixture(params=["sqlite", "postgres"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    if request.param == "sqlite":
        return tmp_path / "site.sqlite3"
    return fresh_database(request.getfixturevalue("postgres_url"))


@pytest.fixture
def state(where: Path | str) -> Iterator[SiteState]:
    site_state = SiteState(where)
    yield site_state
    site_state.close()


def test_a_request_is_found_by_status_and_token_and_claimed_once(state: SiteState) -> None:
    status_id, token = state.add("access", {"email": "noor@uni.example", "n": 1})
    pending = state.by_status(status_id)
    assert pending is not None and pending.kind == "access"
    assert pending.payload == {"email": "noor@uni.example", "n": 1}
    assert pending.confirmed_at is None and pending.ref is None
    assert state.by_token(token) == pending
    assert state.by_token("not-a-token") is None and state.by_status("nope") is None

    claimed = state.claim(token)
    assert claimed is not None and claimed.status_id == status_id
    assert claimed.confirmed_at is not None and claimed.confirmed_at >= pending.created_at
    assert state.claim(token) is None  # a second click files nothing
    assert state.claim("not-a-token") is None

    state.unclaim(status_id)  # filing failed: the link works again
    assert state.claim(token) is not None
    state.attach(status_id, "grant-1")
    state.unclaim(status_id)  # filed: no longer given back
    after = state.by_status(status_id)
    assert after is not None and after.ref == "grant-1" and after.confirmed_at is not None


def test_an_expired_request_cannot_be_claimed(state: SiteState, where: Path | str) -> None:
    status_id, token = state.add("opt_out", {})
    old = time.time() - CONFIRM_WITHIN_S - 60
    execute(where, "UPDATE pending SET created_at = ? WHERE status_id = ?", (old, status_id))
    assert state.claim(token) is None
    pending = state.by_status(status_id)
    assert pending is not None and pending.confirmed_at is None


def test_waiting_lists_confirmed_unfiled_requests_of_a_kind(state: SiteState) -> None:
    first, first_token = state.add("opt_out", {"n": 1})
    second, second_token = state.add("opt_out", {"n": 2})
    _, access_token = state.add("access", {"n": 3})
    state.add("opt_out", {"n": 4})  # never confirmed
    for token in (second_token, first_token, access_token):
        assert state.claim(token) is not None
    assert [p.status_id for p in state.waiting("opt_out")] == [first, second]  # oldest first
    assert [p.payload["n"] for p in state.waiting("access")] == [3]

    state.attach(first, "req-1")
    assert [p.status_id for p in state.waiting("opt_out")] == [second]
    assert state.waiting_for("opt_out", first) is None
    found = state.waiting_for("opt_out", second)
    assert found is not None and found.payload == {"n": 2}
    assert state.waiting_for("access", second) is None


def test_sessions_open_touch_expire_and_close(state: SiteState, where: Path | str) -> None:
    assert state.session(None, idle_s=60) is None and state.session("", idle_s=60) is None
    one, two = state.open_session("curator"), state.open_session("researcher:g1")
    assert one != two
    assert state.session(one, idle_s=60) == "curator"
    assert state.session(two, idle_s=60) == "researcher:g1"
    assert state.session("forged", idle_s=60) is None

    # Idle for 100 s: gone with a 50 s limit; a touch keeps the other alive.
    execute(where, "UPDATE sessions SET last_seen = ?", (time.time() - 100,))
    assert state.session(two, idle_s=200) == "researcher:g1"  # touched: last_seen is now
    assert state.session(one, idle_s=50) is None
    assert state.session(one, idle_s=10_000) is None  # deleted, not just hidden
    assert state.session(two, idle_s=50) == "researcher:g1"

    state.close_session(two)
    state.close_session(None)
    assert state.session(two, idle_s=60) is None
    three, four = state.open_session("a"), state.open_session("b")
    state.close_all_sessions()
    assert state.session(three, idle_s=60) is None and state.session(four, idle_s=60) is None


def test_api_tokens_name_their_grant_until_dropped(state: SiteState) -> None:
    first = state.new_api_token("grant-1")
    second = state.new_api_token("grant-1")
    other = state.new_api_token("grant-2")
    assert first.startswith("mv_") and len({first, second, other}) == 3
    assert state.api_grant(first) == "grant-1" and state.api_grant(second) == "grant-1"
    assert state.api_grant(other) == "grant-2"
    assert state.api_grant(None) is None and state.api_grant("mv_forged") is None
    made = state.api_tokens("grant-1")
    assert len(made) == 2 and made == sorted(made) and abs(made[0] - time.time()) < 60
    assert state.api_tokens("grant-3") == []

    state.drop_api_tokens("grant-1")
    assert state.api_grant(first) is None and state.api_tokens("grant-1") == []
    assert state.api_grant(other) == "grant-2"


def test_a_password_is_set_replaced_and_read(state: SiteState) -> None:
    assert state.password_hash("noor@uni.example") is None
    state.set_password("noor@uni.example", "$argon2id$first")
    state.set_password("sam@uni.example", "$argon2id$other")
    state.set_password("noor@uni.example", "$argon2id$second")
    assert state.password_hash("noor@uni.example") == "$argon2id$second"
    assert state.password_hash("sam@uni.example") == "$argon2id$other"


def test_posts_are_limited_per_client_and_hour(state: SiteState) -> None:
    start = 1_000_000.0
    assert [state.allow_post("a", per_hour=3, now=start + i) for i in range(4)] == [
        True,
        True,
        True,
        False,
    ]
    assert state.allow_post("b", per_hour=3, now=start + 5)  # another client's own count
    assert not state.allow_post("a", per_hour=3, now=start + 3599)
    assert state.allow_post("a", per_hour=3, now=start + 3601)  # the first one is an hour old


def test_the_state_is_kept_across_instances(where: Path | str) -> None:
    first = SiteState(where)
    status_id, _ = first.add("access", {"n": 1})
    first.close()
    again = SiteState(where)  # the schema is made once; the rows stay
    assert again.by_status(status_id) is not None
    again.close()


def _post_ten_times(where: Path | str, barrier: Any, results: Any) -> None:
    state = SiteState(where)
    barrier.wait()
    results.put(sum(state.allow_post("same-client", per_hour=10) for _ in range(10)))
    state.close()


def _claim(where: Path | str, token: str, barrier: Any, results: Any) -> None:
    state = SiteState(where)
    barrier.wait()
    claimed = state.claim(token)
    results.put(None if claimed is None else claimed.status_id)
    state.close()


def _race(target: Any, *args: Any) -> list[Any]:
    """Run target(*args, barrier, results) in PROCESSES processes that start together."""
    spawn = multiprocessing.get_context("spawn")
    barrier, results = spawn.Barrier(PROCESSES), spawn.Queue()
    processes = [
        spawn.Process(target=target, args=(*args, barrier, results)) for _ in range(PROCESSES)
    ]
    for p in processes:
        p.start()
    try:
        return [results.get(timeout=120) for _ in processes]
    finally:
        for p in processes:
            p.join(timeout=60)
            assert p.exitcode == 0


def test_the_rate_limit_holds_across_processes(where: Path | str) -> None:
    SiteState(where).close()  # the schema, before the race
    assert sum(_race(_post_ten_times, where)) == 10


def test_only_one_process_claims_a_request(where: Path | str) -> None:
    state = SiteState(where)
    status_id, token = state.add("access", {})
    state.close()
    got = _race(_claim, where, token)
    assert got.count(status_id) == 1 and got.count(None) == PROCESSES - 1


def test_the_config_takes_a_sqlite_path_or_a_postgres_url() -> None:
    assert SiteConfig().state == Path("data/site/site.sqlite3")
    assert SiteConfig(state="site/x.sqlite3").state == Path("site/x.sqlite3")
    url = "postgresql://site:secret@db.internal:5432/massiv"
    assert SiteConfig(state=url).state == url
    assert SiteConfig.model_validate_json(SiteConfig(state=url).model_dump_json()).state == url
    assert SiteConfig(state="postgres://db/massiv").state == "postgres://db/massiv"
    for bad in ("mysql://x", ""):
        with pytest.raises(ValidationError, match=r"(?s)^1 validation error.*\nstate\n"):
            SiteConfig(state=bad)


def test_a_postgres_server_that_is_not_there_is_a_one_line_error() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(SiteStateError) as raised:
        SiteState(f"postgresql://site:secret@127.0.0.1:{port}/massiv")
    message = str(raised.value)
    assert f"127.0.0.1:{port}/massiv" in message and "refused" in message
    assert "\n" not in message and "secret" not in message


def test_a_postgres_server_that_does_not_answer_is_an_error_not_a_hang() -> None:
    with socket.socket() as silent:  # takes the connection, never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        start = time.monotonic()
        with pytest.raises(SiteStateError, match="timeout"):
            SiteState(f"postgresql://site:secret@127.0.0.1:{port}/massiv?connect_timeout=2")
        assert time.monotonic() - start < 30
