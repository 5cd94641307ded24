"""Publishing when things go wrong: leaked secrets, CRLF lists, kill -9 midway, symlinks,
files that are not UTF-8 and remotes that never answer. Real git, real repositories, tmp dirs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import date
from pathlib import Path

import pytest

from bot import paperlist
from bot.errors import ListFormatError, PaperbotError
from bot.publish import Publisher
from storage.store import Store
from tests.conftest import FakeClock, env_for
from tests.fakes.git import GIT_ENV, SilentServer, SmartHttp, bare_remote, clone, git
from tests.test_publish import START, accept, remote_text, route_for

pytestmark = pytest.mark.slow  # `make full` (and CI) run these; `make test` stays fast

ROOT = Path(__file__).resolve().parents[1]
SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-slack-bot-secret-1111",
    "SLACK_SIGNING_SECRET": "slack-signing-secret-2222",
    "SLACK_APP_TOKEN": "xapp-slack-app-secret-3333",
    "DISCORD_TOKEN": "discord-bot-secret-4444",
    "PAPERBOT_GIT_TOKEN": "git-token-secret-5555",
}


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Store:
    return Store.open(tmp_path / "paperbot.db", clock)


def one_sentence(message: str) -> None:
    assert "\n" not in message
    assert "Traceback" not in message
    assert 0 < len(message) < 400


def status(repo: Path) -> str:
    return git(repo, "status", "--porcelain", "--untracked-files=all")


def remote_bytes(remote: Path) -> bytes:
    """The list on the remote's main, byte for byte (text mode would turn CRLF into LF)."""
    return subprocess.run(
        ["git", "-C", str(remote), "show", "main:papers.md"],
        capture_output=True,
        env=GIT_ENV,
        check=True,
    ).stdout


def dump_hook(repo: Path, name: str, dump: Path) -> None:
    hook = repo / ".git" / "hooks" / name
    hook.write_text(f"#!/bin/sh\nenv >> {dump}\ncat > /dev/null\nexit 0\n", encoding="utf-8")
    hook.chmod(0o755)


# --- secrets ----------------------------------------------------------------------------------


def test_no_secret_reaches_a_credential_store_git_or_a_hook(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[credential]\n\thelper = store\n", encoding="utf-8")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("GIT_CONFIG_GLOBAL", "XDG_CONFIG_HOME", "GIT_ASKPASS", "SSH_ASKPASS"):
        monkeypatch.delenv(var, raising=False)
    for var, value in SECRETS.items():
        monkeypatch.setenv(var, value)

    token = SECRETS["PAPERBOT_GIT_TOKEN"]
    served = tmp_path / "served"
    served.mkdir()
    bare = bare_remote(served / "papers.git", {"papers.md": START})
    work = clone(bare, tmp_path / "work")
    dump = tmp_path / "hook-env.txt"
    for hook in ("pre-push", "reference-transaction", "post-update", "pre-commit"):
        dump_hook(work, hook, dump)
    accept(store, "2611.00002", "Serving LLMs", date(2026, 11, 24))

    with SmartHttp(served, "x-access-token", token) as server:
        git(work, "remote", "set-url", "origin", server.url("papers.git"))
        result = Publisher(store, token=token).publish(route_for(work))

    assert result.pushed
    assert server.logins  # the remote really asked, and the askpass answered
    assert "2611.00002" in remote_text(bare)
    hook_env = dump.read_text(encoding="utf-8")
    assert "GIT_" in hook_env  # the hooks really ran
    assert not (home / ".git-credentials").exists()
    places = [p for p in home.rglob("*") if p.is_file()]
    places += [dump, *(p for p in (work / ".git").rglob("*") if p.is_file())]
    for place in places:
        data = place.read_bytes()
        for var, value in SECRETS.items():
            assert value.encode() not in data, f"{var} found in {place}"
        assert b"PAPERBOT_GIT_TOKEN" not in data, place


def test_git_gets_a_minimal_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.publish import git_env

    for var, value in SECRETS.items():
        monkeypatch.setenv(var, value)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    env = git_env()
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert env["LC_ALL"] == "C"
    assert "PATH" in env
    assert not set(env) & {*SECRETS, "AWS_SECRET_ACCESS_KEY"}
    assert not any(value in env.values() for value in (*SECRETS.values(), "aws-secret"))


# --- line endings -----------------------------------------------------------------------------


def test_a_crlf_list_stays_crlf_across_publishes_while_the_remote_moves(
    tmp_path: Path, store: Store
) -> None:
    crlf = START.replace("\n", "\r\n")
    remote = bare_remote(tmp_path / "remote.git", {"papers.md": crlf, "README.md": "team\n"})
    work = clone(remote, tmp_path / "work")
    other = clone(remote, tmp_path / "other")

    accept(store, "2611.00002", "Serving LLMs", date(2026, 11, 24))
    assert Publisher(store).publish(route_for(work)).pushed
    for i, day in ((3, 24), (4, 25)):
        # someone else pushes first: a new README and a CRLF entry of their own
        git(other, "pull", "-q", "--ff-only")
        (other / "README.md").write_text(f"team {i}\n", encoding="utf-8")
        theirs = (
            (other / "papers.md")
            .read_bytes()
            .replace(
                b"### 2026-11-23\r\n\r\n",
                b"### 2026-11-23\r\n\r\n* [Theirs](https://arxiv.org/abs/2611.0900%d)\r\n" % i,
            )
        )
        (other / "papers.md").write_bytes(theirs)
        git(other, "commit", "-qam", f"theirs {i}")
        git(other, "push", "-q", "origin", "main")

        accept(store, f"2611.0000{i + 2}", f"Paper {i}", date(2026, 11, day))
        result = Publisher(store).publish(route_for(work))
        assert result.pushed
        assert result.added == [f"2611.0000{i + 2}"]

        for text in ((work / "papers.md").read_bytes(), remote_bytes(remote)):
            assert b"\n" not in text.replace(b"\r\n", b"")  # every line ends in CRLF
            assert f"2611.0900{i}".encode() in text
        assert status(work) == ""
    assert git(work, "show", "main:README.md") == "team 4\n"


# --- kill -9 at every step --------------------------------------------------------------------

KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import UTC, datetime
    from pathlib import Path
    from bot.models import ListTarget, Route
    from bot.publish import Publisher
    from storage.store import Store

    db, repo, kill_at = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    store = Store.open(db, lambda: datetime(2026, 11, 24, 15, tzinfo=UTC))
    calls = 0

    def after(args):
        global calls
        calls += 1
        if calls == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    route = Route(
        name="llm",
        categories=("cs.DC",),
        list_target=ListTarget(repo=repo, path="papers.md", branch="main", remote="origin"),
    )
    Publisher(store, after_git=after).publish(route)
    """
)


def test_a_publish_killed_after_any_git_step_leaves_nothing_the_next_cannot_fix(
    tmp_path: Path, clock: FakeClock
) -> None:
    remote = bare_remote(tmp_path / "remote.git", {"papers.md": START, "README.md": "team\n"})
    work = clone(remote, tmp_path / "work")
    other = clone(remote, tmp_path / "other")
    db = tmp_path / "paperbot.db"
    store = Store.open(db, clock)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    expected = {"2611.00001"}
    killed = 0
    for step in range(1, 80):
        # the remote moves before every try, so the sync (fetch, reset) is among the steps
        git(other, "pull", "-q", "--ff-only")
        (other / "README.md").write_text(f"team {step}\n", encoding="utf-8")
        git(other, "commit", "-qam", f"readme {step}")
        git(other, "push", "-q", "origin", "main")
        pid = f"2611.{step:05d}"
        accept(store, pid, f"Paper {step}", date(2026, 11, 24))
        expected.add(pid)

        run = subprocess.run(
            [sys.executable, "-c", KILLER, str(db), str(work), str(step)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if run.returncode == 0:
            break  # this publish has fewer git steps than `step`: every step was tried
        assert run.returncode == -9, run.stderr
        killed += 1

        Publisher(store).publish(route_for(work))
        assert status(work) == "", f"killed after git call {step}"
        assert set(paperlist.ids_in(remote_text(remote))) == expected
        assert (work / "papers.md").read_text(encoding="utf-8") == remote_text(remote)
        assert git(work, "rev-parse", "HEAD") == git(remote, "rev-parse", "main")
    assert killed >= 10  # fetch, reset, show, hash-object, ..., update-ref, index, push


def test_a_stale_index_left_by_a_crash_is_repaired(tmp_path: Path, store: Store) -> None:
    """The crash this was about: killed between moving the branch and updating the index."""
    remote = bare_remote(tmp_path / "remote.git", {"papers.md": START})
    work = clone(remote, tmp_path / "work")
    accept(store, "2611.00002", "Serving LLMs", date(2026, 11, 24))

    class Killed(BaseException):
        pass

    def after(args: tuple[str, ...]) -> None:
        if args[0] == "update-ref" and args[1].startswith("refs/heads/"):
            raise Killed

    with pytest.raises(Killed):
        Publisher(store, after_git=after).publish(route_for(work))
    assert status(work) != ""  # the index still holds the old list
    accept(store, "2611.00003", "Decoding", date(2026, 11, 24))
    Publisher(store).publish(route_for(work))
    assert status(work) == ""
    assert {"2611.00002", "2611.00003"} <= set(paperlist.ids_in(remote_text(remote)))


# --- files paperbot will not write --------------------------------------------------------


def test_a_symlinked_list_is_refused(tmp_path: Path, remote_start: Path, store: Store) -> None:
    work = clone(remote_start, tmp_path / "work")
    real = tmp_path / "elsewhere.md"
    real.write_text(START, encoding="utf-8")
    (work / "papers.md").unlink()
    (work / "papers.md").symlink_to(real)
    accept(store, "2611.00002", "Serving LLMs", date(2026, 11, 24))
    with pytest.raises(PaperbotError, match="symbolic link") as caught:
        Publisher(store).publish(route_for(work))
    one_sentence(str(caught.value))
    assert (work / "papers.md").is_symlink()
    assert real.read_text(encoding="utf-8") == START
    assert remote_text(remote_start) == START


def test_a_list_that_is_not_utf8_is_one_sentence(
    tmp_path: Path, remote_start: Path, store: Store
) -> None:
    work = clone(remote_start, tmp_path / "work")
    (work / "papers.md").write_bytes(START.encode() + "* [Caf\xe9](x)\n".encode("latin-1"))
    accept(store, "2611.00002", "Serving LLMs", date(2026, 11, 24))
    with pytest.raises(ListFormatError, match="not UTF-8") as caught:
        Publisher(store).publish(route_for(work))
    one_sentence(str(caught.value))
    assert remote_text(remote_start) == START


@pytest.fixture
def remote_start(tmp_path: Path) -> Path:
    return bare_remote(tmp_path / "remote.git", {"papers.md": START})


# --- remotes that never answer ------------------------------------------------------------


def test_a_remote_that_never_answers_fails_within_the_timeout(
    tmp_path: Path, remote_start: Path, store: Store
) -> None:
    work = clone(remote_start, tmp_path / "work")
    accept(store, "2611.00002", "Serving LLMs", date(2026, 11, 24))
    with SilentServer() as silent:
        git(work, "remote", "set-url", "origin", silent.url("papers.git"))
        started = time.monotonic()
        with pytest.raises(PaperbotError, match=r"did not finish within 1\.5 s") as caught:
            Publisher(store, token="t0ken-value", git_timeout=1.5).publish(route_for(work))
        took = time.monotonic() - started
    assert took < 6
    one_sentence(str(caught.value))
    assert "t0ken-value" not in str(caught.value)
    assert status(work) == ""


def test_sigterm_while_a_push_hangs_exits_within_ten_seconds(
    tmp_path: Path, remote_start: Path, config_file: Path, store: Store
) -> None:
    """`paperbot run` publishes in a worker thread; SIGTERM kills the git call that hangs."""
    work = clone(remote_start, tmp_path / "work")
    accept(store, "2611.00002", "Serving LLMs", date(2026, 11, 24))
    store.decide("2611.00002", "llm-systems", "accepted", "alice", "accepted by alice")
    store.mark_unpublished("llm-systems")  # a publish is due as soon as run starts
    with config_file.open("a", encoding="utf-8") as routes:
        routes.write(f"[routes.list]\nrepo = '{work}'\npath = 'papers.md'\nremote = 'origin'\n")
    with SilentServer() as silent:
        git(work, "remote", "set-url", "origin", silent.url("papers.git"))
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            env=env_for(tmp_path, "http://127.0.0.1:9", PAPERBOT_PUBLISH_INTERVAL="1"),
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert silent.connected.wait(60), "paperbot never reached the remote"
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            rest = proc.communicate(timeout=30)[1]
            took = time.monotonic() - started
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, rest
    assert took < 10, f"exited {took:.1f} s after SIGTERM"
    assert "paperbot stopped" in rest
