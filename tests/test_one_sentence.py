"""Every failure a user can cause or meet ends in one sentence, never a traceback.

One row per failure: how to cause it, the command, the exit status (1 for an error, 2 for a
command written wrong) and words the sentence must hold. Each runs the real `paperbot`.
"""

from __future__ import annotations

import fcntl
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest

from tests.conftest import env_for
from tests.fakes.arxiv import Answer, FakeArxiv
from tests.fakes.feeds import Item, rss
from tests.fakes.git import local_repo

pytestmark = pytest.mark.slow  # `make full` (and CI) run these; `make test` stays fast

FEED = "/rss/cs.DC+cs.OS"
API = "/api/query"
TODAY = date.today()  # noqa: DTZ011 - `paperbot` runs on the real clock here
BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\xfd" * 50
EMPTY_LIST = "The paper list will be updated automatically, please do not edit.\n\n"


@dataclass
class Case:
    """What a row sets up and runs; `prepare` may change it and the fake arXiv."""

    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    arxiv_url: str | None = None  # None: the fake arXiv
    limit_file_size: int | None = None  # RLIMIT_FSIZE in the child: a disk that fills up
    hold: list[Callable[[], None]] = field(default_factory=list)  # undo after the run


Prepare = Callable[[Path, FakeArxiv, Case], None]


def _nothing(tmp: Path, arxiv: FakeArxiv, case: Case) -> None:
    return None


def _routes(text: str) -> Prepare:
    def prepare(tmp: Path, arxiv: FakeArxiv, case: Case) -> None:
        (tmp / "paperbot.toml").write_text(text, encoding="utf-8")

    return prepare


def _env(**values: str) -> Prepare:
    def prepare(tmp: Path, arxiv: FakeArxiv, case: Case) -> None:
        case.env.update({k: v.format(tmp=tmp) for k, v in values.items()})

    return prepare


def _corrupt_db(tmp: Path, arxiv: FakeArxiv, case: Case) -> None:
    (tmp / "paperbot.db").write_bytes(b"this is not a database, just words " * 200)


def _binary_list(tmp: Path, arxiv: FakeArxiv, case: Case) -> None:
    (tmp / "list.md").write_bytes(BINARY)


def _backup_exists(tmp: Path, arxiv: FakeArxiv, case: Case) -> None:
    (tmp / "copy.db").write_bytes(b"precious")


def _answer(path: str, answer: Answer) -> Prepare:
    def prepare(tmp: Path, arxiv: FakeArxiv, case: Case) -> None:
        arxiv.serve(path, answer)

    return prepare


def _unreachable(tmp: Path, arxiv: FakeArxiv, case: Case) -> None:
    case.arxiv_url = "http://127.0.0.1:9"


def _list_table(repo: str) -> Prepare:
    def prepare(tmp: Path, arxiv: FakeArxiv, case: Case) -> None:
        with (tmp / "paperbot.toml").open("a", encoding="utf-8") as routes:
            routes.write(f"[routes.list]\nrepo = '{repo}'\npath = 'papers.md'\n")

    return prepare


def _not_a_repo(tmp: Path, arxiv: FakeArxiv, case: Case) -> None:
    _list_table("papers")(tmp, arxiv, case)
    (tmp / "papers").mkdir()
    (tmp / "papers" / "papers.md").write_text(EMPTY_LIST, encoding="utf-8")


def _no_git(tmp: Path, arxiv: FakeArxiv, case: Case) -> None:
    _list_table("papers")(tmp, arxiv, case)
    local_repo(tmp / "papers", {"papers.md": EMPTY_LIST})
    bin_dir = tmp / "bin"  # python only: git is not on PATH
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    case.env["PATH"] = str(bin_dir)


def _run_holds_the_database(tmp: Path, arxiv: FakeArxiv, case: Case) -> None:
    fd = os.open(tmp / "paperbot.db.run.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as a running `paperbot run` holds it
    os.write(fd, b"4242")
    case.hold.append(lambda: os.close(fd))


def _read_only_folder(tmp: Path, arxiv: FakeArxiv, case: Case) -> None:
    folder = tmp / "db"
    folder.mkdir()
    case.env["PAPERBOT_DB"] = str(folder / "paperbot.db")
    case.hold.append(_make_read_only(folder))


def _read_only_database(tmp: Path, arxiv: FakeArxiv, case: Case) -> None:
    first = _paperbot(tmp, arxiv.url, ["stats"], {})  # creates the database
    assert first.returncode == 0, first.stderr
    for suffix in ("-wal", "-shm"):
        Path(f"{tmp / 'paperbot.db'}{suffix}").unlink(missing_ok=True)
    case.hold.append(_make_read_only(tmp / "paperbot.db"))


def _make_read_only(path: Path) -> Callable[[], None]:
    """Read-only for this user; root ignores modes, so for root the file is made immutable."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        return lambda: path.chmod(mode)
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot make {path} read-only for root here: {made.stderr!r}")

    def undo() -> None:
        subprocess.run(["chattr", "-i", str(path)], check=False)

    return undo


def _disk_fills_during_a_poll(tmp: Path, arxiv: FakeArxiv, case: Case) -> None:
    first = _paperbot(tmp, arxiv.url, ["stats"], {})  # the database exists, and is small
    assert first.returncode == 0, first.stderr
    papers = [Item(f"2611.{20000 + i}", f"LLM serving {i}", "x" * 2000) for i in range(400)]
    arxiv.serve(FEED, Answer(rss(TODAY, papers)))
    # Writing past this many bytes fails with EFBIG, as a full disk fails with ENOSPC.
    case.limit_file_size = (tmp / "paperbot.db").stat().st_size + 64 * 1024


ROWS: list[tuple[str, Prepare, list[str], int, str]] = [
    # (name, cause, command, exit status, words in the sentence)
    (
        "broken routes file",
        _routes("[[routes]]\nname = 'x'\ncategories = ['cs.DC']\naccept = 'llm'\n"),
        ["poll", "--once"],
        1,
        "line 4",
    ),
    (
        "routes file not TOML",
        _routes("[[routes]\nname = \n"),
        ["poll", "--once"],
        1,
        "paperbot.toml",
    ),
    (
        "missing routes file",
        _env(PAPERBOT_CONFIG="{tmp}/nowhere.toml"),
        ["poll", "--once"],
        1,
        "nowhere.toml",
    ),
    ("corrupt database", _corrupt_db, ["recent"], 1, "not a sound SQLite database"),
    ("corrupt database, run", _corrupt_db, ["run"], 1, "not a sound SQLite database"),
    ("read-only database folder", _read_only_folder, ["run"], 1, "PAPERBOT_DB"),
    ("read-only database, run", _read_only_database, ["run"], 1, "paperbot.db"),
    ("database held by a run", _run_holds_the_database, ["run"], 1, "another paperbot run"),
    ("bad setting", _env(ARXIV_TIMEOUT="soon"), ["poll", "--once"], 1, "ARXIV_TIMEOUT"),
    ("bad setting, other", _env(PAPERBOT_PUBLISH_INTERVAL="-5"), ["stats"], 1, "PUBLISH"),
    ("unknown option", _nothing, ["poll", "--loudly"], 2, "--loudly"),
    ("unknown command", _nothing, ["pol"], 2, "pol"),
    ("bad date", _nothing, ["backfill", "--since", "last week"], 2, "--since"),
    (
        "dates reversed",
        _nothing,
        ["backfill", "--since", "2026-11-20", "--until", "2026-11-01"],
        2,
        "--until",
    ),
    ("not an arXiv id", _nothing, ["why", "not-an-id"], 2, "not-an-id"),
    ("unknown route, query", _nothing, ["recent", "--route", "nope"], 1, "nope"),
    (
        "unknown route, backfill",
        _nothing,
        ["backfill", "--since", "2026-11-01", "--route", "nope"],
        1,
        "nope",
    ),
    ("arXiv unreachable, poll", _unreachable, ["poll", "--once"], 1, "arXiv"),
    (
        "arXiv unreachable, backfill",
        _unreachable,
        ["backfill", "--since", "2026-11-01", "--until", "2026-11-02"],
        1,
        "127.0.0.1:9",
    ),
    (
        "arXiv answers 500",
        _answer(API, Answer(b"oops", 500, content_type="text/plain")),
        ["backfill", "--since", "2026-11-01", "--until", "2026-11-02"],
        1,
        "HTTP 500",
    ),
    (
        "arXiv answers garbage",
        _answer(API, Answer(b"\x00\x01garbage", content_type="text/plain")),
        ["backfill", "--since", "2026-11-01", "--until", "2026-11-02"],
        1,
        "not XML",
    ),
    (
        "arXiv feed is garbage",
        _answer(FEED, Answer(b"<html><body>busy</body></html>")),
        ["poll", "--once"],
        1,
        "arXiv",
    ),
    ("binary list, import", _binary_list, ["list", "import", "list.md"], 1, "not UTF-8"),
    (
        "binary list, render",
        _binary_list,
        ["list", "render", "--base", "list.md"],
        1,
        "not UTF-8",
    ),
    ("list folder is not a git repo", _not_a_repo, ["list", "publish"], 1, "papers"),
    ("git is not installed", _no_git, ["list", "publish"], 1, "git"),
    ("disk fills during a poll", _disk_fills_during_a_poll, ["poll", "--once"], 1, "paperbot.db"),
    ("backup onto an existing file", _backup_exists, ["db", "backup", "copy.db"], 2, "copy.db"),
    (
        "backup into a missing folder",
        _nothing,
        ["db", "backup", "no/such/folder/copy.db"],
        1,
        "no/such/folder",
    ),
]


def _paperbot(
    tmp: Path, arxiv_url: str, args: list[str], env: dict[str, str], fsize: int | None = None
) -> subprocess.CompletedProcess[str]:
    def limit() -> None:  # in the child, before paperbot starts
        if fsize is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write, not the process
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env_for(tmp, arxiv_url, **env),
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=limit if fsize is not None else None,
    )


@contextmanager
def _held(case: Case) -> Iterator[None]:
    try:
        yield
    finally:
        for undo in reversed(case.hold):
            undo()


@pytest.mark.parametrize(
    ("prepare", "args", "status", "words"),
    [pytest.param(*row[1:], id=row[0]) for row in ROWS],
)
def test_a_failure_is_one_sentence_never_a_traceback(
    tmp_path: Path,
    fake_arxiv: FakeArxiv,
    config_file: Path,
    prepare: Prepare,
    args: list[str],
    status: int,
    words: str,
) -> None:
    case = Case(list(args))
    with _held(case):
        prepare(tmp_path, fake_arxiv, case)
        done = _paperbot(
            tmp_path, case.arxiv_url or fake_arxiv.url, case.args, case.env, case.limit_file_size
        )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == status, done.stderr
    # The sentence is the last line; logging above it is allowed, a multi-line error is not.
    lines = done.stderr.strip().splitlines()
    assert lines, "no error was printed"
    last = lines[-1]
    assert words in last, done.stderr
    assert last.rstrip().endswith((".", ")")) or ";" in last or len(last) < 200, last
