"""The list always equals the team's decisions: imports, withdrawals, hand edits on the remote and
in the work tree, date conventions and the file's own style. Real git, a real bare remote."""

from __future__ import annotations

import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import paperlist
from bot.app import publish_in_thread, wire
from bot.config import RulesSource
from bot.models import Incoming, ListTarget, Paper, Route
from bot.publish import Publisher, import_list
from storage.store import Store
from tests.conftest import FakeClock, make_settings
from tests.fakes.git import bare_remote, clone, git
from tests.test_publish import HEADER, START, remote_text

LISTS = "lists"


def route_for(repo: Path, convention: str = "listing") -> Route:
    target = ListTarget(repo=repo, path="papers.md", remote="origin", date=convention)
    return Route(name="llm", categories=("cs.DC",), accept=("llm",), list_target=target)


def store_paper(
    store: Store, pid: str, title: str, day: date | None, source: str = "rss:cs.DC", **paper: object
) -> None:
    store.upsert_papers([Incoming(Paper(id=pid, title=title, **paper), day, True, source)])  # type: ignore[arg-type]


def accept(store: Store, pid: str, title: str, day: date) -> None:
    store_paper(store, pid, title, day)
    store.decide(pid, "llm", "accepted", "votes", "2 up")


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


def setup(tmp_path: Path, text: str) -> tuple[Path, Path]:
    remote = bare_remote(tmp_path / "remote.git", {"papers.md": text})
    return remote, clone(remote, tmp_path / "work")


# --- 1. import is not publish ------------------------------------------------------------------


def test_importing_a_newer_list_then_publishing_adds_exactly_the_missing_papers(
    tmp_path: Path, clock: FakeClock, shared_fixtures: Path
) -> None:
    older = read(shared_fixtures / LISTS / "daily-arxiv-llm.2025-03-17.md")
    top = f"{paperlist.WARNING}\n\n"
    newer = (
        top
        + "### 2025-03-18\n\n* [A Paper From The Next Day](https://arxiv.org/abs/2503.13001)\n\n\n"
        + older[len(top) :].replace(
            "Sparse Tensor Cores](https://arxiv.org/abs/2503.10725)\n",
            "Sparse Tensor Cores](https://arxiv.org/abs/2503.10725)\n"
            "* [A Late Vote For Monday](https://arxiv.org/abs/2503.11999)\n",
        )
    )
    assert len(paperlist.parse(newer).entries) == 105
    remote, work = setup(tmp_path, older)
    store = Store.open(tmp_path / "paperbot.db", clock)
    import_list(store, "llm", newer)

    result = Publisher(store).publish(route_for(work))
    assert sorted(result.added) == ["2503.11999", "2503.13001"]
    assert result.hand_deleted == [] and result.removed == []
    assert git(remote, "show", "main:papers.md") == newer
    assert read(work / "papers.md") == newer
    assert {d.status for d in store.decisions("llm")} == {"accepted"}


def test_the_real_next_day_update_comes_out_byte_for_byte_with_its_badges(
    tmp_path: Path, shared_fixtures: Path
) -> None:
    older = read(shared_fixtures / LISTS / "daily-arxiv-llm.2026-03-29.md")
    newer = read(shared_fixtures / LISTS / "daily-arxiv-llm.2026-03-30.md")
    clock = FakeClock(datetime(2026, 3, 30, 1, 0, tzinfo=UTC))
    remote, work = setup(tmp_path, older)
    store = Store.open(tmp_path / "paperbot.db", clock)
    import_list(store, "llm", newer)

    result = Publisher(store).publish(route_for(work))
    assert result.added == ["2603.27914"]
    assert git(remote, "show", "main:papers.md") == newer
    assert read(work / "papers.md") == newer
    assert not Publisher(store).publish(route_for(work)).changed


# --- 2. a withdrawn acceptance leaves the list ---------------------------------------------------


def test_a_paper_back_to_pending_loses_its_line_and_flapping_commits_nothing(
    tmp_path: Path, clock: FakeClock
) -> None:
    remote, work = setup(tmp_path, START)
    store = Store.open(tmp_path / "paperbot.db", clock)
    accept(store, "2611.00002", "Serving LLMs", date(2026, 11, 23))
    accept(store, "2611.00003", "Decoding LLMs", date(2026, 11, 23))
    Publisher(store).publish(route_for(work))
    assert "2611.00002" in remote_text(remote)

    store.decide("2611.00002", "llm", "pending", "votes", "1 up, 0 down: pending")
    result = Publisher(store).publish(route_for(work))
    assert result.removed == ["2611.00002"]
    assert "2611.00002" not in remote_text(remote)
    assert git(work, "status", "--porcelain") == ""

    # within one interval: a 👍 withdrawn and cast again, a paper accepted then withdrawn
    commits = git(remote, "rev-list", "--count", "main")
    store.decide("2611.00003", "llm", "pending", "votes", "withdrawn")
    store.decide("2611.00003", "llm", "accepted", "votes", "back")
    store.decide("2611.00002", "llm", "accepted", "votes", "2 up")
    store.decide("2611.00002", "llm", "pending", "votes", "withdrawn")
    assert not Publisher(store).publish(route_for(work)).changed
    assert git(remote, "rev-list", "--count", "main") == commits


def test_a_new_line_carries_the_tags_and_tldr_paperbot_learnt(
    tmp_path: Path, clock: FakeClock
) -> None:
    tagged = (
        "# Papers\n\n### 2026-11-23\n"
        "* `serving` [Old paper](http://arxiv.org/abs/2611.00001v1)\n"
        "  > **TL;DR**: Old news, 1x.\n"
    )
    remote, work = setup(tmp_path, tagged)
    store = Store.open(tmp_path / "paperbot.db", clock)
    store_paper(store, "2611.00001", "Old paper", date(2026, 11, 23))
    store.decide("2611.00001", "llm", "accepted", "list", "in the list")
    accept(store, "2611.00009", "KV cache paging", date(2026, 11, 24))
    store.set_note(
        "2611.00009", "llm", tags=["serving", "kernel"], tags_by="tagger", tldr="Pages KV, 2x.",
        tldr_by="llm",
    )  # fmt: skip
    Publisher(store).publish(route_for(work))
    text = remote_text(remote)
    assert (
        "* `serving` `kernel` [KV cache paging](http://arxiv.org/abs/2611.00009v1)\n"
        "  > **TL;DR**: Pages KV, 2x.\n"
    ) in text


# --- 3. hand edits: on the remote, and in the bot's work tree ----------------------------------


def test_a_teammates_deletion_on_the_remote_is_a_rejection_within_one_interval(
    tmp_path: Path, clock: FakeClock
) -> None:
    remote, work = setup(tmp_path, START)
    routes = tmp_path / "paperbot.toml"
    routes.write_text(
        '[[routes]]\nname = "llm"\ncategories = ["cs.DC"]\naccept = ["llm"]\n'
        f"[routes.list]\nrepo = '{work}'\npath = 'papers.md'\nremote = 'origin'\n",
        encoding="utf-8",
    )
    settings = make_settings(tmp_path, "http://127.0.0.1:9")
    store = Store.open(settings.paperbot_db, clock)
    app = wire(
        store=store,
        rules=RulesSource(routes),
        clock=clock,
        chats={},
        publish=publish_in_thread(settings, clock),
    )
    accept(store, "2611.00002", "Serving LLMs", date(2026, 11, 23))
    store.mark_unpublished("llm")

    async def interval() -> None:
        await app.decisions.publish_due()

    import asyncio

    asyncio.run(interval())
    assert "2611.00002" in remote_text(remote)

    person = clone(remote, tmp_path / "person")
    text = read(person / "papers.md")
    (person / "papers.md").write_text(
        text.replace("* [Serving LLMs](https://arxiv.org/abs/2611.00002)\n", ""), encoding="utf-8"
    )
    git(person, "commit", "-qam", "not this one")
    git(person, "push", "-q", "origin", "main")

    asyncio.run(interval())  # one interval, no decision in between: the sync notices
    decision = store.decision("2611.00002", "llm")
    assert decision is not None
    assert (decision.status, decision.decided_by) == ("rejected", "Person <person@example.org>")

    accept(store, "2611.00003", "Another LLM Paper", date(2026, 11, 24))
    store.mark_unpublished("llm")
    asyncio.run(interval())
    listed = remote_text(remote)
    assert "2611.00003" in listed
    assert "2611.00002" not in listed  # never re-added
    assert "2611.00002" not in read(work / "papers.md")


def test_a_deletion_in_the_bots_work_tree_is_committed(tmp_path: Path, clock: FakeClock) -> None:
    remote, work = setup(tmp_path, START)
    store = Store.open(tmp_path / "paperbot.db", clock)
    accept(store, "2611.00002", "Serving LLMs", date(2026, 11, 23))
    Publisher(store).publish(route_for(work))
    text = read(work / "papers.md")
    (work / "papers.md").write_text(
        text.replace("* [An Older Paper](https://arxiv.org/abs/2611.00001)\n", ""),
        encoding="utf-8",
    )

    assert Publisher(store).sync(route_for(work))  # the periodic sync: a publish is due
    assert store.unpublished_mark("llm") is not None
    result = Publisher(store).publish(route_for(work))
    assert result.removed == ["2611.00001"]
    decision = store.decision("2611.00001", "llm")
    assert decision is not None and decision.status == "rejected"
    assert "2611.00001" not in git(work, "show", "HEAD:papers.md")
    assert "2611.00001" not in remote_text(remote)
    assert git(work, "status", "--porcelain") == ""


# --- 4. one date convention per list -----------------------------------------------------------


@pytest.mark.parametrize(
    ("convention", "caught_up", "from_feed"),
    [("listing", "2026-11-24", "2026-11-27"), ("submitted", "2026-11-23", "2026-11-20")],
)
def test_each_paper_goes_under_the_lists_date_convention(
    tmp_path: Path, clock: FakeClock, convention: str, caught_up: str, from_feed: str
) -> None:
    remote, work = setup(tmp_path, HEADER)
    store = Store.open(tmp_path / "paperbot.db", clock)
    monday_11_et = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)
    # stored as the catch-up stored it before: under its submission day
    store_paper(
        store, "2611.20001", "Caught Up", date(2026, 11, 23), "api:cs.DC", published=monday_11_et
    )
    store_paper(
        store,
        "2611.20002",
        "Shown By The Feed",
        date(2026, 11, 27),
        published=datetime(2026, 11, 20, 23, 0, tzinfo=UTC),
    )
    for pid in ("2611.20001", "2611.20002"):
        store.decide(pid, "llm", "accepted", "votes", "2 up")
    Publisher(store).publish(route_for(work, convention))
    sections = {e.id: e.date for e in paperlist.parse(remote_text(remote)).entries}
    assert sections == {
        "2611.20001": date.fromisoformat(caught_up),
        "2611.20002": date.fromisoformat(from_feed),
    }


# --- the rule, for any history -----------------------------------------------------------------

IDS = [f"2611.{30001 + i}" for i in range(6)]
step = st.one_of(
    st.tuples(
        st.just("decide"),
        st.sampled_from(IDS),
        st.sampled_from(["accepted", "pending", "rejected", "expired"]),
    ),
    st.tuples(st.just("import"), st.sampled_from(IDS), st.just("")),
    st.tuples(st.just("remote-delete"), st.sampled_from(IDS), st.just("")),
    st.tuples(st.just("remote-add"), st.sampled_from(IDS), st.just("")),
    st.tuples(st.just("worktree-delete"), st.sampled_from(IDS), st.just("")),
    st.tuples(st.just("publish"), st.just(""), st.just("")),
)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(step, min_size=1, max_size=7))
def test_after_any_history_a_publish_lists_exactly_the_accepted_papers(
    steps: list[tuple[str, str, str]],
) -> None:
    clock = FakeClock(datetime(2026, 11, 24, 15, 0, tzinfo=UTC))
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        remote, work = setup(tmp_path, START)
        person = clone(remote, tmp_path / "person")
        store = Store.open(tmp_path / "paperbot.db", clock)
        for pid in IDS:
            store_paper(store, pid, f"Paper {pid}", date(2026, 11, 24))
        route = route_for(work)

        def edit(repo: Path, change: str, pid: str) -> None:
            text = read(repo / "papers.md")
            lines = [line for line in text.splitlines(keepends=True) if pid not in line]
            if change == "add" and pid not in text:
                lines.insert(2, f"* [Added By Hand](https://arxiv.org/abs/{pid})\n")
            (repo / "papers.md").write_text("".join(lines), encoding="utf-8")

        for kind, pid, status in [*steps, ("publish", "", "")]:
            clock.advance(minutes=1)
            if kind == "decide":
                store.decide(pid, "llm", status, "votes", status)
            elif kind == "import":
                import_list(
                    store, "llm", f"### 2026-11-20\n* [Imported](https://arxiv.org/abs/{pid})\n"
                )
            elif kind.startswith("remote-"):
                git(person, "pull", "-q", "--rebase", "origin", "main")
                edit(person, kind.removeprefix("remote-"), pid)
                if git(person, "status", "--porcelain"):
                    git(person, "commit", "-qam", f"{kind} {pid}")
                    git(person, "push", "-q", "origin", "main")
            elif kind == "worktree-delete":
                edit(work, "delete", pid)
            else:
                Publisher(store).publish(route)
        store.close()
        store = Store.open(tmp_path / "paperbot.db", clock)
        accepted = {d.paper_id for d in store.decisions("llm", "accepted")}
        assert set(paperlist.ids_in(remote_text(remote))) == accepted
        assert set(paperlist.ids_in(read(work / "papers.md"))) == accepted
        store.close()
