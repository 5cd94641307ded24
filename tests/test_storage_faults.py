"""The store under real concurrency and real faults: SQLite files shared by real processes, a
read-only file, pages overwritten with garbage, a file-size limit standing in for a full disk.
Concurrency is bounded by iteration counts and barriers, never by timing.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.errors import StorageError
from bot.models import Incoming, Match, Paper, Reason
from storage.migrations import MIGRATIONS
from storage.store import Store
from tests.conftest import FakeClock

ROOT = Path(__file__).resolve().parents[1]
FORK = multiprocessing.get_context("fork")
NOBODY = 65534
PAGE = 4096


def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 24, 15, 0, tzinfo=UTC))


def incoming(pid: str, abstract: str = "An abstract.") -> Incoming:
    paper = Paper(id=pid, title=f"Paper {pid}", abstract=abstract, categories=("cs.DC",))
    return Incoming(paper, date(2026, 11, 24), True, "rss:cs.DC")


Job = tuple[Callable[..., None], tuple[Any, ...]]


def run_workers(jobs: list[Job]) -> list[str]:
    """One forked process per job, `work(barrier, queue, *args)`; their failures, merged."""
    barrier = FORK.Barrier(len(jobs), timeout=120)
    queue = FORK.Queue()
    procs = [FORK.Process(target=work, args=(barrier, queue, *args)) for work, args in jobs]
    for p in procs:
        p.start()
    failures: list[str] = []
    for _ in procs:
        failures.extend(queue.get(timeout=300))
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0, f"a worker died with exit code {p.exitcode}"
    return failures


def child(script: str, *args: str) -> dict[str, Any]:
    """Run `script` in a fresh interpreter (sys.executable), its last stdout line as JSON."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- many processes at once ------------------------------------------------------------------


def _open_rounds(barrier: Any, queue: Any, folder: str, worker: int, rounds: int) -> None:
    """Open the same fresh database as every other worker, at the same instant, each round."""
    failures = []
    for r in range(rounds):
        barrier.wait()
        try:
            store = Store.open(Path(folder) / f"round-{r}.db", clock())
            if worker % 2:
                store.counts()  # like `paperbot status`
            else:
                store.set_covered_until(f"rss:{worker}", date(2026, 11, 24))  # like `run`
            store.close()
        except Exception as exc:
            failures.append(f"worker {worker}, round {r}: {exc!r}")
    queue.put(failures)


@pytest.mark.slow
def test_ten_processes_open_one_fresh_database_at_once_20_rounds(tmp_path: Path) -> None:
    failures = run_workers([(_open_rounds, (str(tmp_path), w, 20)) for w in range(10)])
    assert failures == []
    for r in range(20):
        store = Store.open(tmp_path / f"round-{r}.db", clock())
        names = [row["name"] for row in store.db.query("select name from _sqlite_migrations")]
        assert len(names) == len(set(names)) == len(MIGRATIONS._migrations)  # each applied once
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert len(list(store.db.query("select key from state"))) == 5  # the even workers
        store.close()


def _ingest(barrier: Any, queue: Any, path: str, iterations: int) -> None:
    """Store a batch and its matches per iteration, as a poll does (one transaction)."""
    store = Store.open(path, clock())
    failures = []
    barrier.wait()
    for i in range(iterations):
        batch = [incoming(f"2611.{i:03d}{k:02d}") for k in range(5)]
        try:
            with store.atomic():
                new = store.upsert_papers(batch).new_ids
                store.add_matches(
                    [Match(pid, "llm", (Reason("llm", "title", "Paper"),)) for pid in new], "poll"
                )
        except Exception as exc:
            failures.append(f"ingest {i}: {exc!r}")
    store.close()
    queue.put(failures)


def _decide(barrier: Any, queue: Any, path: str, curator: str, iterations: int) -> None:
    """Flip decisions back and forth, as curators do (each call reads, then writes)."""
    store = Store.open(path, clock())
    failures = []
    barrier.wait()
    for i in range(iterations):
        status = "accepted" if i % 2 else "rejected"
        try:
            if store.decide(f"2611.9{i % 7:04d}", curator, status, curator, "veto") is None:
                failures.append(f"{curator} {i}: the decision was not recorded")
        except Exception as exc:
            failures.append(f"{curator} {i}: {exc!r}")
    store.close()
    queue.put(failures)


def test_an_ingest_and_two_curators_write_at_once_without_a_failure(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    Store.open(path, clock()).close()
    failures = run_workers(
        [
            (_ingest, (str(path), 150)),
            (_decide, (str(path), "alice", 150)),
            (_decide, (str(path), "bob", 150)),
        ]
    )
    assert failures == []
    store = Store.open(path, clock())
    assert store.count_papers() == 150 * 5
    assert store.counts()["matched"] == 150 * 5
    assert len(store.decisions("alice")) == len(store.decisions("bob")) == 7
    assert store.db.execute("select count(*) from decision_log").fetchone()[0] == 300


# --- a database that cannot be written, or is not sound ---------------------------------------


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder another user can reach (pytest's tmp_path is private to its owner)."""
    folder = Path(tempfile.mkdtemp(prefix="paperbot-faults-"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


VERIFY = """
import json, os, sys
from datetime import UTC, datetime
from bot.errors import StorageError
from storage.store import Store
if len(sys.argv) > 2:  # root: become that user for good, once everything is imported
    Store.open(":memory:", lambda: datetime.now(UTC)).verify()  # loads what loads lazily
    os.setgroups([])
    os.setgid(int(sys.argv[2]))
    os.setuid(int(sys.argv[2]))
store = Store.open(sys.argv[1], lambda: datetime.now(UTC))
try:
    store.verify()
    error = None
except StorageError as exc:
    error = str(exc)
print(json.dumps({"error": error, "papers": store.count_papers()}))
"""


def test_verify_refuses_a_database_file_this_user_cannot_write(shared_dir: Path) -> None:
    # Root writes any file whatever its mode, so as root the child drops to `nobody` (after its
    # imports: the interpreter may live in root's home): the file is then truly read-only to
    # the process, as it is to a bot started under the wrong user.
    path = shared_dir / "p.db"
    store = Store.open(path, clock())
    store.upsert_papers([incoming("2611.00001")])
    store.close()
    path.chmod(0o444)
    result = child(VERIFY, str(path), *([str(NOBODY)] if os.geteuid() == 0 else []))
    assert result["papers"] == 1  # reading still works: `status` can say what is there
    assert result["error"] is not None and "cannot be opened for writing" in result["error"]
    assert "writable by this user" in result["error"]


def test_verify_passes_a_sound_writable_database_and_leaves_no_trace(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "p.db", clock())
    store.upsert_papers([incoming("2611.00001")])
    store.verify()
    assert list(store.db.query("select * from state")) == []
    assert store.count_papers() == 1


def damaged_database(folder: Path) -> Path:
    """A real database whose middle pages were overwritten with garbage."""
    path = folder / "damaged.db"
    store = Store.open(path, clock())
    text = "Serving large language models on a cluster of many small machines. " * 8
    store.upsert_papers([incoming(f"2611.{n:05d}", f"{n} {text}") for n in range(1500)])
    store.close()  # the last connection checkpoints: everything is in the main file
    pages = path.stat().st_size // PAGE
    rng = random.Random(7)
    with open(path, "r+b") as f:
        for page in range(pages // 2, pages // 2 + 8):
            f.seek(page * PAGE)
            f.write(rng.randbytes(PAGE))
    return path


def test_verify_refuses_a_database_with_damaged_pages(tmp_path: Path) -> None:
    store = Store.open(damaged_database(tmp_path), clock())  # it opens: the schema is intact
    with pytest.raises(StorageError, match="is not a sound SQLite database") as caught:
        store.verify()
    assert "restore the latest backup" in str(caught.value)


def test_opening_a_file_that_is_not_a_database_names_that_cause(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    path.write_bytes(random.Random(1).randbytes(8 * PAGE))
    with pytest.raises(StorageError, match="is not a sound SQLite database") as caught:
        Store.open(path, clock())
    assert "writable" not in str(caught.value)


# --- backups -----------------------------------------------------------------------------------

BACKUP_WITH_FILE_SIZE_LIMIT = """
import json, resource, signal, sys
from datetime import UTC, datetime
from storage.store import Store
store = Store.open(sys.argv[1], lambda: datetime.now(UTC))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails, like a full disk
limit = int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    store.backup(sys.argv[2])
    error = None
except Exception as exc:
    error = f"{type(exc).__name__}: {exc}"
print(json.dumps({"error": error}))
"""


def test_a_backup_that_runs_out_of_space_leaves_no_file(tmp_path: Path) -> None:
    source = tmp_path / "p.db"
    store = Store.open(source, clock())
    store.upsert_papers([incoming(f"2611.{n:05d}", "x" * 400) for n in range(1000)])
    store.close()
    assert source.stat().st_size > 64 * PAGE
    out = tmp_path / "out"
    out.mkdir()
    result = child(BACKUP_WITH_FILE_SIZE_LIMIT, str(source), str(out / "copy.db"), str(32 * PAGE))
    assert list(out.iterdir()) == []  # neither the target nor a temporary file
    assert result["error"].startswith("StorageError: ") and str(out / "copy.db") in result["error"]


def test_a_backup_of_a_damaged_database_is_refused(tmp_path: Path) -> None:
    store = Store.open(damaged_database(tmp_path), clock())
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(StorageError, match="refusing to back up"):
        store.backup(out / "copy.db")
    assert list(out.iterdir()) == []


def test_a_backup_is_one_checked_file_with_every_row(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "p.db", clock())
    store.upsert_papers([incoming(f"2611.{n:05d}") for n in range(50)])
    store.decide("2611.00001", "llm", "accepted", "alice", "good")
    out = tmp_path / "out"
    out.mkdir()
    store.backup(out / "copy.db")
    assert list(out.iterdir()) == [out / "copy.db"]  # self-contained: no -wal beside it
    copy = Store.open(out / "copy.db", clock())
    copy.verify()
    assert copy.count_papers() == 50
    assert copy.decision("2611.00001", "llm") is not None
    assert copy.search(["Paper"], limit=100) != []
    with pytest.raises(StorageError, match="exists"):
        store.backup(out / "copy.db")
