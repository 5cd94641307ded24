"""The learnt taste: honest replays, suggestions, retraining on votes, damaged model files."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.models import Incoming, ModelPolicy, Paper, Route
from bot.taste import Label, Record, TasteParams, examples_from, fit_label, pick_suggestions
from bot.taste_eval import read_accepted, read_pool, replay, summarise
from bot.taste_store import TasteStore, retrain_stale, snapshot
from storage.store import Store
from tests.conftest import FakeClock

LIKED = ["kv", "cache", "serving", "llm", "prefill", "speculative", "decoding", "batching"]
OTHER = ["blockchain", "consensus", "hpc", "mpi", "stencil", "sensor", "ledger", "weather"]
COMMON = ["system", "we", "propose", "results", "cluster", "latency", "novel", "design"]
START = date(2026, 1, 5)
ROUTE = Route(
    name="llm-systems",
    categories=("cs.DC", "cs.OS"),
    accept=("llm",),
    model=ModelPolicy(suggest_at=0.5, max_suggestions_per_day=2, min_decisions=10),
)


def _words(rng: random.Random, liked: bool, n: int = 30) -> str:
    topic = LIKED if liked else OTHER
    return " ".join(rng.choice(topic if rng.random() < 0.3 else COMMON) for _ in range(n))


def synthetic(days: int = 30, per_day: int = 12, seed: int = 7) -> tuple[list[Record], set[str]]:
    """Papers over `days` listing days; the team accepts those about LLM serving."""
    rng = random.Random(seed)
    records, accepted = [], set()
    for d in range(days):
        day = START + timedelta(days=d)
        for i in range(per_day):
            pid = f"2601.{d:02d}{i:03d}"
            liked = rng.random() < 0.3
            title = _words(rng, liked, 6)
            record = Record(
                id=pid,
                title=title,
                abstract=_words(rng, liked),
                categories=("cs.DC",),
                day=day,
                rule_terms=("llm",) if "llm" in title.split() else (),
            )
            records.append(record)
            if liked:
                accepted.add(pid)
    return records, accepted


PARAMS = TasteParams(min_df=1)
POLICY = ModelPolicy(suggest_at=0.3, max_suggestions_per_day=2)


def _scores(records: list[Record], accepted: set[str]) -> dict[str, float]:
    start, end = START + timedelta(days=20), START + timedelta(days=29)
    items = replay(records, accepted, start, end, params=PARAMS, policy=POLICY, retrain_days=3)
    return {s.record.id: s.score for s in items}


def test_replay_never_uses_a_label_from_its_own_day_or_later() -> None:
    records, accepted = synthetic()
    before = _scores(records, accepted)
    cut = START + timedelta(days=26)  # a retraining day (every 3 days from day 20)
    upto = {r.id for r in records if r.day and r.day <= cut}
    # Plant labels on that day and later: papers the team would never take.
    planted = {r.id for r in records if r.day and r.day >= cut}
    after = _scores(records, accepted | planted)
    assert {i: before[i] for i in upto if i in before} == {i: after[i] for i in upto if i in after}
    # ...while the same plant a day earlier does change that day's scores.
    earlier = {r.id for r in records if r.day == cut - timedelta(days=1)}
    moved = _scores(records, accepted | earlier)
    today = [r.id for r in records if r.day == cut]
    assert [moved[i] for i in today] != [before[i] for i in today]


def test_replay_ranks_the_team_taste_above_the_rest() -> None:
    records, accepted = synthetic()
    start, end = START + timedelta(days=20), START + timedelta(days=29)
    items = list(replay(records, accepted, start, end, params=PARAMS, policy=POLICY))
    summary = summarise(items)
    assert summary.average_precision > 0.8
    assert {s.rank for s in items if s.record.day == start} == set(range(1, 13))


def test_suggestions_respect_max_suggestions_per_day() -> None:
    records, accepted = synthetic()
    start, end = START + timedelta(days=20), START + timedelta(days=29)
    items = list(replay(records, accepted, start, end, params=PARAMS, policy=POLICY))
    per_day: dict[date | None, int] = {}
    for s in items:
        per_day[s.record.day] = per_day.get(s.record.day, 0) + s.suggested
        assert not (s.suggested and s.record.matched)
    assert max(per_day.values()) == 2
    unmatched = [r for r in records if not r.matched][:10]
    policy = ModelPolicy(suggest_at=0.5, max_suggestions_per_day=3)
    assert len(pick_suggestions(unmatched, [0.9] * 10, policy)) == 3
    assert len(pick_suggestions(unmatched, [0.9] * 10, policy, already=2)) == 1
    assert pick_suggestions(unmatched, [0.4] * 10, policy) == set()
    assert pick_suggestions(unmatched, [0.9] * 10, ModelPolicy()) == set()


def test_weak_negatives_skip_days_with_no_acceptance() -> None:
    day1, day2 = date(2026, 1, 5), date(2026, 1, 6)
    records = [
        Record("a", "x", day=day1),
        Record("b", "y", day=day1),
        Record("c", "z", day=day2),  # nothing accepted that day: maybe an outage
    ]
    examples = examples_from(records, [Label("a", True, day1)], weak_weight=0.3)
    assert [(e.record.id, e.label, e.weight) for e in examples] == [("a", 1, 1.0), ("b", 0, 0.3)]


# --- beside a real database -----------------------------------------------------------------


def _store(tmp_path: Path, records: list[Record]) -> Store:
    clock = FakeClock(datetime(2026, 2, 10, 12, 0, tzinfo=UTC))
    store = Store.open(tmp_path / "paperbot.db", clock)
    store.upsert_papers(
        [
            Incoming(
                Paper(r.id, r.title, abstract=r.abstract, categories=r.categories),
                r.day,
                candidate=True,
                source="rss:cs.DC+cs.OS",
            )
            for r in records
        ]
    )
    return store


def _decide_some(store: Store, records: list[Record], accepted: set[str], n: int) -> None:
    for r in records[:n]:
        status = "accepted" if r.id in accepted else "rejected"
        store.decide(r.id, ROUTE.name, status, "votes", "test")


def test_a_vote_on_a_suggestion_moves_the_next_training(tmp_path: Path) -> None:
    records, accepted = synthetic(days=10)
    store = _store(tmp_path, records)
    _decide_some(store, records, accepted, 60)
    tastes = TasteStore(tmp_path / "paperbot.db", PARAMS)
    snap = snapshot(store, ROUTE)
    assert tastes.train(snap) is not None
    model = tastes.model(snap)
    assert model is not None
    undecided = [r for r in snap.records if store.decision(r.id, ROUTE.name) is None]
    target = max(undecided, key=lambda r: model.score([r])[0])
    before = model.score([target])[0]

    store.decide(target.id, ROUTE.name, "rejected", "votes", "2 down")
    snap = snapshot(store, ROUTE)
    assert tastes.stale(snap)
    tastes.train(snap)
    after = TasteStore(tmp_path / "paperbot.db").model(snap)
    assert after is not None and not tastes.stale(snap)
    assert after.score([target])[0] < before - 0.01


def test_a_corrupt_or_missing_model_file_is_rebuilt(tmp_path: Path) -> None:
    records, accepted = synthetic(days=6)
    store = _store(tmp_path, records)
    _decide_some(store, records, accepted, 40)
    snap = snapshot(store, ROUTE)
    tastes = TasteStore(tmp_path / "paperbot.db", PARAMS)
    path = tastes.model_path(ROUTE.name)
    assert path.name == "paperbot.db.model.llm-systems.joblib"

    assert not path.exists()
    assert tastes.model(snap) is not None  # missing: built
    path.write_bytes(b"\x80\x04 not a model at all")
    fresh = TasteStore(tmp_path / "paperbot.db", PARAMS)
    assert fresh.model(snap) is not None  # corrupt: rebuilt, no exception
    assert TasteStore(tmp_path / "paperbot.db").model(snap, rebuild=False) is not None
    report = json.loads(tastes.report_path(ROUTE.name).read_text())
    assert report["examples"] >= 40


def test_the_model_stays_silent_below_min_decisions(tmp_path: Path) -> None:
    records, accepted = synthetic(days=3)
    store = _store(tmp_path, records)
    _decide_some(store, records, accepted, 9)  # one short of min_decisions = 10
    snap = snapshot(store, ROUTE)
    tastes = TasteStore(tmp_path / "paperbot.db", PARAMS)
    assert tastes.train(snap) is None
    assert tastes.model(snap) is None
    assert not tastes.model_path(ROUTE.name).exists()


def test_model_status_says_it_is_silent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    records, accepted = synthetic(days=2)
    store = _store(tmp_path, records)
    _decide_some(store, records, accepted, 4)
    store.close()
    config = tmp_path / "paperbot.toml"
    config.write_text(
        '[[routes]]\nname = "llm-systems"\ncategories = ["cs.DC"]\naccept = ["llm"]\n'
        "[routes.model]\nmin_decisions = 10\n"
    )
    monkeypatch.setenv("PAPERBOT_DB", str(tmp_path / "paperbot.db"))
    monkeypatch.setenv("PAPERBOT_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(cli, ["model", "status"])
    assert done.exit_code == 0, done.output
    assert "silent, still learning: 4 of the 10 decisions" in done.output


# --- the CLI replay on files of the fixture's shape -----------------------------------------


def test_model_eval_writes_a_line_per_candidate(tmp_path: Path) -> None:
    records, accepted = synthetic(days=24, per_day=10)
    pool = tmp_path / "pool.jsonl"
    pool.write_text(
        "".join(
            json.dumps(
                {
                    "id": r.id,
                    "title": r.title,
                    "abstract": r.abstract,
                    "categories": list(r.categories),
                    "date": r.day.isoformat() if r.day else "",
                }
            )
            + "\n"
            for r in records
        )
    )
    lst = tmp_path / "list.md"
    lst.write_text(
        "".join(
            f"* [{r.title}](https://arxiv.org/abs/{r.id})\n" for r in records if r.id in accepted
        )
    )
    config = tmp_path / "routes.toml"
    config.write_text(
        '[[routes]]\nname = "t"\ncategories = ["cs.DC"]\naccept = ["llm"]\n'
        "[routes.model]\nsuggest_at = 0.5\nmax_suggestions_per_day = 1\n"
    )
    out = tmp_path / "out.jsonl"
    args = ["model", "eval", "--pool", str(pool), "--list", str(lst), "--config", str(config)]
    args += ["--start", "2026-01-25", "--end", "2026-01-28", "--out", str(out)]
    done = CliRunner().invoke(cli, args)
    assert done.exit_code == 0, done.output
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    model_lines = [x for x in lines if x["scorer"] == "model"]
    assert len(model_lines) == 40 and len(lines) == 80  # model and baseline, 4 days of 10
    assert set(model_lines[0]) >= {"id", "date", "score", "rank", "matched", "suggested"}
    summary = json.loads(done.output.strip().splitlines()[-1])
    assert summary["model"]["candidates"] + 10 * summary["model"]["skipped_days"] == 40
    assert summary["model"]["average_precision"] > 0.7
    assert read_accepted(lst) == accepted
    assert len(read_pool(pool, Route(name="t", categories=("cs.OS",)))) == 0


def test_fixture_pool_and_rules_read_as_documented(shared_fixtures: Path) -> None:
    route = Route(
        name="team",
        categories=("cs.DC", "cs.OS"),
        accept=("llm", "inference", "rag", "prefill", "decode", "attention", "moe"),
    )
    records = read_pool(shared_fixtures / "pool" / "cs-dc-os-candidates.to-2026-03-30.jsonl", route)
    accepted = read_accepted(shared_fixtures / "lists" / "daily-arxiv-llm.2026-03-30.md")
    q1 = [r for r in records if r.day and date(2026, 1, 1) <= r.day <= date(2026, 3, 18)]
    matched = [r for r in q1 if r.matched]
    hits = sum(r.id in accepted for r in matched)
    assert 0.35 < hits / len(matched) < 0.65  # precision
    assert hits / sum(r.id in accepted for r in q1) > 0.7  # recall


def test_model_why_and_suggest_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records, accepted = synthetic(days=6)
    store = _store(tmp_path, records)
    _decide_some(store, records, accepted, 40)
    store.close()
    config = tmp_path / "paperbot.toml"
    config.write_text(
        '[[routes]]\nname = "llm-systems"\ncategories = ["cs.DC"]\naccept = ["llm"]\n'
        "[routes.model]\nmin_decisions = 10\n"
    )
    monkeypatch.setenv("PAPERBOT_DB", str(tmp_path / "paperbot.db"))
    monkeypatch.setenv("PAPERBOT_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(cli, ["model", "train"])
    assert done.exit_code == 0, done.output
    assert "route 'llm-systems': trained on" in done.output
    done = CliRunner().invoke(cli, ["model", "status", "--json"])
    assert json.loads(done.output)["state"] == "ready"
    liked = next(r for r in records[40:] if r.id in accepted)
    done = CliRunner().invoke(cli, ["model", "why", liked.id])
    assert done.exit_code == 0, done.output
    assert "fits 0." in done.output and " today" in done.output and "driven by:" in done.output
    done = CliRunner().invoke(cli, ["model", "suggest", "3"])
    assert done.exit_code == 0, done.output
    shown = [line.split()[1] for line in done.output.splitlines()[1:]]
    assert len(shown) <= 3
    assert all(not any(r.id == i and r.matched for r in records) for i in shown)
    assert not set(shown) & {r.id for r in records[:40]}  # decided papers are not suggested
    assert fit_label(0.8612, 2, 31) == "fits 0.86 · 2nd of 31 today"


async def test_retrain_stale_runs_only_when_decisions_changed(tmp_path: Path) -> None:
    records, accepted = synthetic(days=6)
    store = _store(tmp_path, records)
    _decide_some(store, records, accepted, 40)
    tastes = TasteStore(tmp_path / "paperbot.db", PARAMS)
    assert await retrain_stale(store, tastes, [ROUTE]) == ["llm-systems"]
    assert await retrain_stale(store, tastes, [ROUTE]) == []
    store.decide(records[50].id, ROUTE.name, "accepted", "votes", "2 up")
    assert await retrain_stale(store, tastes, [ROUTE]) == ["llm-systems"]
