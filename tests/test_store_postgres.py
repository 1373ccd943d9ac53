"""The PostgreSQL state store: schema and refusal, many claimers, leases across hosts, secrecy.

Each "host" here is its own `PostgresStore` with its own connections to one
real server on loopback (see `tests/support/pgserver.py`).
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from downloader.errors import IllegalTransition, LeaseLost, StoreError
from downloader.items import ItemRef
from downloader.logs import REDACTOR
from downloader.store import ItemState, PostgresStore, open_store
from downloader.store._migrations import SCHEMA_VERSION
from downloader.store._postgres_open import describe, scrub, secrets_of
from tests.support.pgserver import PASSWORD, PgServer

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
JOB = ItemRef.parse("pixxel:job:wf-1/job-1")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def refs(n: int) -> list[ItemRef]:
    return [ItemRef.parse(f"scale:job:{10_000 + i}") for i in range(n)]


# -- schema: created, recognised, refused -------------------------------------------------


async def test_a_new_database_is_marked_ours_at_the_latest_version(
    pg_server: PgServer, pg_db: str, pg_url: str
) -> None:
    async with open_store(pg_url) as store:
        assert isinstance(store, PostgresStore)
        await store.sync_watchlist([JOB], now=T0)
    marker = pg_server.psql("SELECT application, version FROM downloader_schema", pg_db)
    assert marker.strip() == f"downloader|{SCHEMA_VERSION}"
    async with open_store(pg_url) as again:  # reopening keeps what was there
        assert [i.key for i in await again.list_items()] == [JOB.key]


async def test_hosts_opening_one_new_database_at_once_migrate_it_once(
    pg_server: PgServer, pg_db: str, pg_url: str
) -> None:
    stores = [PostgresStore(pg_url) for _ in range(6)]
    async with anyio.create_task_group() as tg:
        for store in stores:
            tg.start_soon(store.open)
    try:
        await stores[0].sync_watchlist([JOB], now=T0)
        for store in stores:
            assert [i.key for i in await store.list_items()] == [JOB.key]
    finally:
        for store in stores:
            await store.close()
    assert pg_server.psql("SELECT count(*) FROM downloader_schema", pg_db).strip() == "1"


async def test_a_database_of_another_program_is_refused_and_left_untouched(
    pg_server: PgServer, pg_db: str, pg_url: str
) -> None:
    pg_server.psql("CREATE TABLE customers (id int); INSERT INTO customers VALUES (7)", pg_db)
    with pytest.raises(StoreError, match="other program \\(customers\\)") as caught:
        await open_store(pg_url).open()
    assert PASSWORD not in str(caught.value)
    tables = pg_server.psql(
        "SELECT string_agg(table_name, ',') FROM information_schema.tables"
        " WHERE table_schema = 'public'",
        pg_db,
    )
    assert tables.strip() == "customers"


async def test_a_schema_newer_than_this_program_knows_is_refused(
    pg_server: PgServer, pg_db: str, pg_url: str
) -> None:
    async with open_store(pg_url):
        pass
    pg_server.psql(f"UPDATE downloader_schema SET version = {SCHEMA_VERSION + 1}", pg_db)
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}, newer"):
        await open_store(pg_url).open()


async def test_a_database_of_the_first_schema_is_brought_up_to_date(
    pg_server: PgServer, pg_db: str, pg_url: str
) -> None:
    async with open_store(pg_url) as store:
        await store.sync_watchlist([JOB], now=T0)
    pg_server.psql(
        "DROP INDEX items_turns; DROP TABLE outbox; DROP TABLE source_items;"
        " DROP TABLE sources; ALTER TABLE items DROP COLUMN definition;"
        " UPDATE downloader_schema SET version = 1",
        pg_db,
    )
    async with open_store(pg_url) as store:
        [claimed] = await store.claim("me", now=T0, lease=LEASE, limit=5)
        assert claimed.key == JOB.key
    version = pg_server.psql("SELECT version FROM downloader_schema", pg_db)
    assert version.strip() == str(SCHEMA_VERSION)
    index = pg_server.psql("SELECT count(*) FROM pg_indexes WHERE indexname = 'items_turns'", pg_db)
    assert index.strip() == "1"


async def test_a_marker_naming_another_program_is_refused(
    pg_server: PgServer, pg_db: str, pg_url: str
) -> None:
    pg_server.psql(
        "CREATE TABLE downloader_schema (application TEXT, version INT);"
        " INSERT INTO downloader_schema VALUES ('something-else', 1)",
        pg_db,
    )
    with pytest.raises(StoreError, match="does not name downloader"):
        await open_store(pg_url).open()


# -- many claimers at once ----------------------------------------------------------------


async def test_concurrent_claimers_never_get_the_same_item(pg_url: str) -> None:
    items = refs(300)
    hosts = [PostgresStore(pg_url, pool_size=4) for _ in range(8)]
    for host in hosts:
        await host.open()
    got: Counter[str] = Counter()
    try:
        await hosts[0].sync_watchlist(items, now=T0)

        async def claimer(host: PostgresStore, name: str) -> None:
            while claimed := await host.claim(name, now=at(1), lease=LEASE, limit=3):
                for record in claimed:
                    assert record.lease_owner == name
                    got[record.key] += 1

        async with anyio.create_task_group() as tg:
            for h, host in enumerate(hosts):
                for t in range(4):  # 32 claimers, each pool shared by four
                    tg.start_soon(claimer, host, f"host-{h}/task-{t}")
        owners = {i.lease_owner for i in await hosts[1].list_items()}
    finally:
        for host in hosts:
            await host.close()
    assert set(got) == {r.key for r in items}
    assert max(got.values()) == 1
    assert len(owners) > 4  # the work was really spread, not taken by one claimer


async def test_concurrent_transitions_of_one_item_let_exactly_one_through(pg_url: str) -> None:
    async with open_store(pg_url) as a, open_store(pg_url) as b:
        await a.sync_watchlist([JOB], now=T0)
        outcomes: list[str] = []

        async def move(store: object) -> None:
            assert isinstance(store, PostgresStore)
            try:
                await store.transition(JOB.key, ItemState.REQUESTED, now=at(1))
                outcomes.append("moved")
            except IllegalTransition:
                outcomes.append("refused")

        async with anyio.create_task_group() as tg:
            for store in (a, b, a, b):
                tg.start_soon(move, store)
        assert sorted(outcomes) == ["moved", "refused", "refused", "refused"]
        assert [e.kind for e in await b.events(JOB.key)] == ["added", "transition"]


# -- leases across hosts ------------------------------------------------------------------


async def test_an_expired_lease_hands_the_work_to_another_host_and_fences_the_first(
    pg_url: str,
) -> None:
    async with open_store(pg_url) as one, open_store(pg_url) as two:
        await one.sync_watchlist([JOB], now=T0)
        assert [i.key for i in await one.claim("one", now=T0, lease=LEASE, limit=5)] == [JOB.key]
        await one.transition(JOB.key, ItemState.DOWNLOADING, now=at(1), owner="one")
        # "one" stops renewing (it died, or hangs): before expiry nothing is handed out
        assert await two.claim("two", now=at(29), lease=LEASE, limit=5) == []
        assert await two.next_due("two") == T0 + LEASE
        taken = await two.claim("two", now=at(30), lease=LEASE, limit=5)
        assert [(i.key, i.lease_owner, i.state) for i in taken] == [
            (JOB.key, "two", ItemState.DOWNLOADING)
        ]
        # every write of the stale owner is refused and changes nothing
        with pytest.raises(LeaseLost) as caught:
            await one.set_progress(JOB.key, 999, 1000, now=at(31), owner="one")
        assert (caught.value.key, caught.value.owner) == (JOB.key, "one")
        with pytest.raises(LeaseLost):
            await one.transition(JOB.key, ItemState.VERIFYING, now=at(31), owner="one")
        with pytest.raises(LeaseLost):
            await one.schedule(JOB.key, at(60), now=at(31), owner="one")
        assert await one.renew("one", [JOB.key], now=at(31), lease=LEASE) == frozenset()
        await one.release("one", JOB.key)  # not its lease any more: nothing happens
        item = await two.get(JOB.key)
        assert item is not None
        assert (item.state, item.lease_owner, item.bytes_done) == (ItemState.DOWNLOADING, "two", 0)
        # the new holder goes on
        await two.set_progress(JOB.key, 10, 1000, now=at(32), owner="two")
        assert await two.renew("two", [JOB.key], now=at(50), lease=LEASE) == {JOB.key}
        assert await one.claim("one", now=at(61), lease=LEASE, limit=5) == []
        assert await two.release_all("two") == 1
        assert [i.key for i in await one.claim("one", now=at(62), lease=LEASE, limit=5)] == [
            JOB.key
        ]


# -- the password stays secret ------------------------------------------------------------


async def test_a_wrong_password_is_a_store_error_that_never_shows_the_password(
    pg_server: PgServer, pg_db: str
) -> None:
    wrong = "Wr0ng-Secret-Hunter2"
    url = pg_server.url(pg_db, password=wrong)
    store = open_store(url)
    assert wrong not in repr(store)
    with pytest.raises(StoreError) as caught:
        await store.open()
    message = str(caught.value)
    assert wrong not in message
    assert "password authentication failed" in message
    assert f"postgres@127.0.0.1:{pg_server.port}/{pg_db}" in message
    # the driver's own exception is not chained, so no traceback prints its text
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


async def test_an_unreachable_server_is_a_store_error_that_never_shows_the_password() -> None:
    with socket.socket() as s:  # a port that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://app:p%40ss%2Fw0rd-Zq@127.0.0.1:{port}/state?password=Qx-other-9"
    with pytest.raises(StoreError) as caught:
        await PostgresStore(url, timeout=5).open()
    message = str(caught.value)
    logged = REDACTOR.scrub(f"connecting with {url}")
    for secret in ("p%40ss%2Fw0rd-Zq", "p@ss/w0rd-Zq", "Qx-other-9"):
        assert secret not in message
        assert secret not in logged
    assert message.startswith(f"state database postgresql://app@127.0.0.1:{port}/state:")


def test_urls_are_described_without_password_or_query_and_scrubbed_in_every_form() -> None:
    url = "postgresql://app:p%40ss@db.example.org:5433/state?password=two&sslmode=require"
    assert describe(url) == "postgresql://app@db.example.org:5433/state"
    assert describe("postgres://[::1]/x") == "postgres://[::1]/x"
    secrets = secrets_of(url)
    text = "failed for p%40ss, p@ss and two"
    assert scrub(text, secrets) == "failed for ***, *** and ***"
    assert secrets_of("postgresql://app@db/state") == ()


async def test_the_password_can_come_from_a_libpq_passfile_instead_of_the_url(
    pg_server: PgServer, pg_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{pg_server.port}:{pg_db}:postgres:{PASSWORD}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    async with open_store(f"postgresql://postgres@127.0.0.1:{pg_server.port}/{pg_db}") as store:
        assert (await store.sync_watchlist([JOB], now=T0)).added == (JOB.key,)


async def test_the_store_carries_on_after_the_server_dropped_its_connections(
    pg_server: PgServer, pg_db: str, pg_url: str
) -> None:
    async with open_store(pg_url) as store:
        await store.sync_watchlist([JOB], now=T0)
        killed = pg_server.psql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            f" WHERE datname = '{pg_db}' AND pid <> pg_backend_pid()",
        )
        assert int(killed) >= 1
        # the pool notices the dead connection before using it and opens a new one
        assert [i.key for i in await store.list_items()] == [JOB.key]
        await store.transition(JOB.key, ItemState.REQUESTED, now=at(1))


async def test_an_operation_whose_caller_is_cancelled_still_completes_and_frees_its_connection(
    pg_url: str,
) -> None:
    async with PostgresStore(pg_url, timeout=5, pool_size=2) as store:
        await store.sync_watchlist(refs(40), now=T0)
        cancelled = 0
        for n in range(30):
            with anyio.move_on_after(0.0005 * (n % 5)) as scope:
                await store.claim(f"w{n}", now=at(1), lease=LEASE, limit=1)
            cancelled += scope.cancel_called
        # every claim ran to its COMMIT although its caller was cancelled meanwhile
        holders = Counter(i.lease_owner for i in await store.list_items() if i.lease_owner)
        assert sum(holders.values()) == 30
        assert set(holders.values()) == {1}
        # and both pooled connections are still usable: nothing waits for the timeout
        with anyio.fail_after(4):
            for _ in range(4):
                assert len(await store.claim("later", now=at(2), lease=LEASE, limit=1)) == 1
    assert cancelled > 0


def test_commands_refusing_a_wrong_password_exit_2_without_showing_it(
    pg_server: PgServer, pg_db: str, tmp_path: Path
) -> None:
    wrong = "Wr0ng-Cli-Secret-77"
    (tmp_path / "watchlist.toml").write_text("[[scale.job]]\nid = 1\n")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[archive]\nroot = "{tmp_path / "archive"}"\n'
        f'[state]\nurl = "{pg_server.url(pg_db, password=wrong)}"\n'
        f'[watchlist]\npath = "{tmp_path / "watchlist.toml"}"\n'
        '[providers.scale]\nbase_url = "http://127.0.0.1:9"\n'
    )
    for command in (["once"], ["status", "--json"]):
        result = subprocess.run(
            [sys.executable, "-m", "downloader", *command, "-c", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, (command, result.stderr)
        assert "password authentication failed" in result.stderr
        assert wrong not in result.stdout + result.stderr


async def test_a_database_at_an_older_schema_version_is_migrated_forward(
    pg_server: PgServer, pg_db: str, pg_url: str
) -> None:
    # as a downloader that knew no migration yet would have left it
    pg_server.psql(
        "CREATE TABLE downloader_schema (application TEXT NOT NULL, version INTEGER NOT NULL);"
        " INSERT INTO downloader_schema VALUES ('downloader', 0)",
        pg_db,
    )
    async with open_store(pg_url) as store:
        await store.sync_watchlist([JOB], now=T0)
    marker = pg_server.psql("SELECT application, version FROM downloader_schema", pg_db)
    assert marker.strip() == f"downloader|{SCHEMA_VERSION}"
