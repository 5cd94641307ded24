"""Publishing the list into real git repositories with a real bare remote, in tmp folders."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import pytest

from bot import paperlist
from bot.errors import PaperbotError
from bot.models import Incoming, ListTarget, Paper, Route
from bot.publish import Publisher, import_list
from storage.store import Store
from tests.conftest import FakeClock
from tests.fakes.git import bare_remote, clone, git, local_repo

HEADER = paperlist.WARNING + "\n\n"
START = HEADER + "### 2026-11-23\n\n* [An Older Paper](https://arxiv.org/abs/2611.00001)\n\n\n"


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A bare remote holding the list, like the team's repository."""
    return bare_remote(tmp_path / "remote.git", {"papers.md": START, "README.md": "team papers\n"})


def route_for(repo: Path, remote: str | None = "origin") -> Route:
    return Route(
        name="llm",
        categories=("cs.DC",),
        accept=("llm",),
        list_target=ListTarget(repo=repo, path="papers.md", branch="main", remote=remote),
    )


def accept(store: Store, pid: str, title: str, day: date) -> None:
    store.upsert_papers([Incoming(Paper(id=pid, title=title), day, True, "rss:cs.DC")])
    store.decide(pid, "llm", "accepted", "votes", "2 up")


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Store:
    return Store.open(tmp_path / "paperbot.db", clock)


def remote_text(remote: Path) -> str:
    return git(remote, "show", "main:papers.md")


def test_publish_adds_accepted_papers_commits_and_pushes(
    tmp_path: Path, remote: Path, store: Store
) -> None:
    work = clone(remote, tmp_path / "work")
    accept(store, "2611.00002", "Serving LLMs", date(2026, 11, 24))
    accept(store, "2611.00003", "Decoding [fast]", date(2026, 11, 24))
    result = Publisher(store).publish(route_for(work))

    assert result.added == ["2611.00002", "2611.00003"]
    assert result.pushed
    expected = (
        HEADER + "### 2026-11-24\n\n"
        "* [Serving LLMs](https://arxiv.org/abs/2611.00002)\n"
        "* [Decoding \\[fast\\]](https://arxiv.org/abs/2611.00003)\n\n\n"
        "### 2026-11-23\n\n"
        "* [An Older Paper](https://arxiv.org/abs/2611.00001)\n\n\n"
    )
    assert remote_text(remote) == expected
    assert (work / "papers.md").read_text(encoding="utf-8") == expected
    message = git(remote, "log", "-1", "--format=%an%n%B", "main")
    assert message.startswith("paperbot\nllm: add 2 paper(s)")
    assert "+ 2611.00002" in message

    again = Publisher(store).publish(route_for(work))
    assert not again.changed
    assert git(remote, "rev-list", "--count", "main").strip() == "2"


def test_a_paper_flipped_to_rejected_loses_its_line_and_nothing_else(
    tmp_path: Path, remote: Path, store: Store
) -> None:
    work = clone(remote, tmp_path / "work")
    accept(store, "2611.00002", "Serving LLMs", date(2026, 11, 23))
    Publisher(store).publish(route_for(work))
    before = remote_text(remote)
    store.decide("2611.00002", "llm", "rejected", "alice", "curator veto")
    result = Publisher(store).publish(route_for(work))
    assert result.removed == ["2611.00002"]
    assert remote_text(remote) == START
    assert before != START


def test_a_line_deleted_by_hand_is_a_rejection_and_never_comes_back(
    tmp_path: Path, remote: Path, store: Store
) -> None:
    work = clone(remote, tmp_path / "work")
    accept(store, "2611.00002", "Serving LLMs", date(2026, 11, 23))
    Publisher(store).publish(route_for(work))
    # a person deletes the line on another clone and pushes
    person = clone(remote, tmp_path / "person")
    text = (person / "papers.md").read_text(encoding="utf-8")
    (person / "papers.md").write_text(
        text.replace("* [Serving LLMs](https://arxiv.org/abs/2611.00002)\n", ""), encoding="utf-8"
    )
    git(person, "commit", "-qam", "not this one")
    git(person, "push", "-q", "origin", "main")

    result = Publisher(store).publish(route_for(work))
    assert result.hand_deleted == ["2611.00002"]
    decision = store.decision("2611.00002", "llm")
    assert decision is not None
    assert (decision.status, decision.decided_by) == ("rejected", "Person <person@example.org>")
    assert "2611.00002" not in remote_text(remote)
    assert not Publisher(store).publish(route_for(work)).changed


def test_a_remote_that_moved_on_is_merged_again_never_forced(
    tmp_path: Path, remote: Path, store: Store
) -> None:
    work = clone(remote, tmp_path / "work")
    # someone else puts a competing entry at the top and pushes first
    other = clone(remote, tmp_path / "other")
    (other / "papers.md").write_text(
        HEADER
        + "### 2026-11-24\n\n* [Their Paper](https://arxiv.org/abs/2611.09999)\n\n\n"
        + START[len(HEADER) :],
        encoding="utf-8",
    )
    git(other, "commit", "-qam", "their paper")
    git(other, "push", "-q", "origin", "main")
    theirs = git(remote, "rev-parse", "main").strip()

    accept(store, "2611.00002", "Serving LLMs", date(2026, 11, 24))
    result = Publisher(store).publish(route_for(work))
    assert result.pushed
    text = remote_text(remote)
    assert text.index("2611.09999") < text.index("2611.00002")  # ours after theirs, same day
    assert text.count("### 2026-11-24") == 1
    # their commit is an ancestor of ours: nothing was forced
    git(remote, "merge-base", "--is-ancestor", theirs, "main")
    assert "<<<<<<<" not in (work / "papers.md").read_text(encoding="utf-8")


def test_a_push_rejected_midway_is_retried_from_the_remote_tip(
    tmp_path: Path, remote: Path, store: Store
) -> None:
    """The remote moves between our fetch and our push: the push is rejected, we go again."""
    work = clone(remote, tmp_path / "work")
    other = clone(remote, tmp_path / "other")
    (other / "README.md").write_text("changed\n", encoding="utf-8")
    git(other, "commit", "-qam", "readme")
    git(other, "push", "-q", "origin", "main:competitor")
    competitor = git(remote, "rev-parse", "competitor").strip()
    marker = tmp_path / "raced"
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\n"
        f"if [ ! -e {marker} ]; then\n"
        f"  touch {marker}\n"
        "  env -u GIT_QUARANTINE_PATH -u GIT_OBJECT_DIRECTORY "
        "-u GIT_ALTERNATE_OBJECT_DIRECTORIES "
        f"git update-ref refs/heads/main {competitor}\n"
        "  echo 'someone pushed first' >&2; exit 1\n"
        "fi\n",
        encoding="utf-8",
    )
    hook.chmod(0o755)

    accept(store, "2611.00002", "Serving LLMs", date(2026, 11, 24))
    result = Publisher(store).publish(route_for(work))
    assert marker.exists()  # the first push really was turned away
    assert result.pushed
    assert "2611.00002" in remote_text(remote)
    assert git(remote, "show", "main:README.md") == "changed\n"
    git(remote, "merge-base", "--is-ancestor", competitor, "main")


def test_uncommitted_hand_edits_are_kept_and_not_committed(
    tmp_path: Path, remote: Path, store: Store
) -> None:
    work = clone(remote, tmp_path / "work")
    edited = START.replace("An Older Paper", "An Older Paper (fixed by hand)")
    (work / "papers.md").write_text(edited, encoding="utf-8")
    accept(store, "2611.00002", "Serving LLMs", date(2026, 11, 23))
    Publisher(store).publish(route_for(work))

    on_disk = (work / "papers.md").read_text(encoding="utf-8")
    assert "(fixed by hand)" in on_disk
    assert "2611.00002" in on_disk
    committed = remote_text(remote)
    assert "(fixed by hand)" not in committed
    assert "2611.00002" in committed
    assert git(work, "diff", "--stat").strip() != ""  # the hand edit is still uncommitted


def test_two_publishers_at_once_write_each_paper_once(
    tmp_path: Path, remote: Path, clock: FakeClock
) -> None:
    work = clone(remote, tmp_path / "work")
    db = tmp_path / "paperbot.db"
    seed = Store.open(db, clock)
    for i in range(5):
        accept(seed, f"2611.0010{i}", f"Paper {i}", date(2026, 11, 24))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            Publisher(Store.open(db, clock)).publish(route_for(work))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    ids = paperlist.ids_in(remote_text(remote))
    assert sorted(ids) == sorted(["2611.00001", *(f"2611.0010{i}" for i in range(5))])
    assert git(remote, "rev-list", "--count", "main").strip() == "2"


def test_without_a_remote_it_commits_locally(tmp_path: Path, store: Store) -> None:
    repo = local_repo(tmp_path / "local", {})
    accept(store, "2611.00002", "Serving LLMs", date(2026, 11, 24))
    result = Publisher(store).publish(route_for(repo, remote=None))
    assert result.changed
    assert not result.pushed
    assert git(repo, "show", "main:papers.md") == (
        HEADER + "### 2026-11-24\n\n* [Serving LLMs](https://arxiv.org/abs/2611.00002)\n\n\n"
    )


def test_the_token_never_shows_in_errors_or_config(tmp_path: Path, store: Store) -> None:
    repo = local_repo(tmp_path / "local", {})
    git(repo, "remote", "add", "origin", "https://127.0.0.1:9/team/papers.git")
    accept(store, "2611.00002", "Serving LLMs", date(2026, 11, 24))
    with pytest.raises(PaperbotError) as caught:
        Publisher(store, token="s3cret-token-value").publish(route_for(repo))
    assert "s3cret-token-value" not in str(caught.value)
    assert "git fetch from origin failed" in str(caught.value)
    assert "s3cret" not in (repo / ".git" / "config").read_text(encoding="utf-8")


def test_not_a_git_work_tree_is_a_clear_error(tmp_path: Path, store: Store) -> None:
    (tmp_path / "plain").mkdir()
    with pytest.raises(PaperbotError, match="not a git work tree"):
        Publisher(store).publish(route_for(tmp_path / "plain"))


def test_import_records_the_list_as_accepted_in_order(
    tmp_path: Path, store: Store, shared_fixtures: Path
) -> None:
    text = (shared_fixtures / "lists" / "daily-arxiv-llm.2025-03-17.md").read_text("utf-8")
    report = import_list(store, "llm", text)
    again = import_list(store, "llm", text)
    entries = paperlist.parse(text).entries
    assert report.entries == len(entries)
    assert report.accepted == len({e.id for e in entries})
    assert again.accepted == 0
    accepted = [d.paper_id for d in store.decisions("llm", "accepted")]
    assert accepted == list(dict.fromkeys(e.id for e in entries))
    assert all(d.decided_by == "import" for d in store.decisions("llm"))
    # rendering onto the file itself changes nothing
    assert Publisher(store).render(route_for(tmp_path), text) == text


def test_the_wrong_file_is_refused_not_taken_as_deletions(
    tmp_path: Path, remote: Path, store: Store
) -> None:
    work = clone(remote, tmp_path / "work")
    for i in range(3):
        accept(store, f"2611.0000{i + 2}", f"Paper {i}", date(2026, 11, 24))
    Publisher(store).publish(route_for(work))
    wrong = Route(
        name="llm",
        categories=("cs.DC",),
        list_target=ListTarget(repo=work, path="README.md", branch="main", remote="origin"),
    )
    with pytest.raises(PaperbotError, match=r"none of the 4 papers published .*README\.md"):
        Publisher(store).publish(wrong)
    assert {d.status for d in store.decisions("llm")} == {"accepted"}
