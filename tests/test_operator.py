"""The operator's kit: install, init, run, watch (status, --json, logs) and honest answers.

Real `paperbot` processes on real SQLite files, the local fake arXiv; one test builds the
wheel and installs it into a fresh virtualenv outside the repository.
"""

from __future__ import annotations

import configparser
import fcntl
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import venv
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import warn_unused_channels, wire
from bot.arxiv.client import _retry_after
from bot.cli import configure_logging
from bot.config import RulesSource, load_config
from bot.errors import ConfigError
from bot.models import FeedRun, Incoming, Match, Paper, Reason
from bot.settings import Settings
from storage.store import Store
from tests.conftest import ROOT, FakeClock, env_for
from tests.fakes.arxiv import Answer, FakeArxiv
from tests.fakes.chat import MemoryChat
from tests.fakes.feeds import Item, rss

FEED = "/rss/cs.DC+cs.OS"
PIP = (sys.executable, "-m", "pip")
TODAY = date.today()  # noqa: DTZ011 - `paperbot` runs on the real clock here
NOW = datetime.now(UTC)
TWO_ROUTES = """\
[[routes]]
name = "llm-systems"
categories = ["cs.DC", "cs.OS"]
accept = ["llm", "cache"]

[[routes]]
name = "storage"
categories = ["cs.DC", "cs.OS"]
accept = ["cache"]
slack_channel = "C0123456789"
"""


def paperbot(
    folder: Path, arxiv_url: str, *args: str, timeout: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env_for(folder, arxiv_url, **env),
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def paper(pid: str, title: str, day: date) -> Incoming:
    return Incoming(Paper(pid, title, abstract="We study it.", published=None), day, True, "rss:x")


@pytest.fixture
def team(tmp_path: Path) -> Path:
    """Two routes sharing papers; three papers about caches, listed on three days."""
    (tmp_path / "paperbot.toml").write_text(TWO_ROUTES, encoding="utf-8")
    store = Store.open(tmp_path / "paperbot.db", lambda: NOW)
    store.upsert_papers(
        [
            # stored newest first (as a backfill does), so insertion order is not age order
            paper("2611.00003", "Caches for LLM serving", TODAY),
            paper("2611.00002", "A cache for disks", TODAY - timedelta(days=1)),
            paper("2611.00001", "Caching old things", TODAY - timedelta(days=2)),
        ]
    )
    reason = (Reason("cache", "title", "Caches"),)
    store.add_matches(
        [
            Match("2611.00003", "llm-systems", reason),
            Match("2611.00003", "storage", reason),
            Match("2611.00002", "storage", reason),
            Match("2611.00001", "storage", reason),
        ],
        "backfill",
    )
    store.decide("2611.00003", "llm-systems", "accepted", "cli:ada", "by hand")
    store.decide("2611.00003", "storage", "accepted", "cli:ada", "by hand")
    store.set_vote("2611.00003", "slack:U1", 1, "button", "slack:C0123456789")
    store.close()
    return tmp_path


# --- 1. deployment ----------------------------------------------------------------------------


def _dockerfile() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in lines]


def _yaml(text: str) -> dict[str, object]:
    """The block-style YAML subset compose.yaml uses: mappings, lists of scalars, comments."""
    root: dict[str, object] = {}
    stack: list[tuple[int, object]] = [(-1, root)]
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    for i, line in enumerate(lines):
        indent = len(line) - len(line.lstrip())
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        item = line.strip()
        if item.startswith("- "):
            assert isinstance(parent, list), line
            parent.append(item[2:])
            continue
        key, _, value = item.partition(":")
        assert isinstance(parent, dict), line
        if value.strip():
            parent[key] = value.strip()
            continue
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        child: object = [] if nxt.startswith("- ") else {}
        parent[key] = child
        stack.append((indent, child))
    return root


def test_the_container_runs_slim_non_root_with_data_on_a_volume_and_a_health_check() -> None:
    steps = _dockerfile()
    assert steps[0] == ("FROM", "python:3.11-slim")
    users = [arg for op, arg in steps if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(op == "VOLUME" and "/data" in arg for op, arg in steps)
    env = " ".join(arg for op, arg in steps if op == "ENV")
    assert "PAPERBOT_DB=/data/" in env and "PAPERBOT_CONFIG=/data/" in env
    health = [arg for op, arg in steps if op == "HEALTHCHECK"]
    assert health and re.search(r'"paperbot",\s*"status",\s*"--check"', health[0])
    assert ("STOPSIGNAL", "SIGTERM") in steps
    # what the image copies exists, so `docker build` has what it needs
    for op, arg in steps:
        if op == "COPY":
            for name in arg.split()[:-1]:
                assert (ROOT / name).exists(), name

    compose = _yaml((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert isinstance(services, dict)
    bot = services["paperbot"]
    assert isinstance(bot, dict)
    assert bot["env_file"] == ".env" and bot["build"] == "."
    assert bot["volumes"] == ["paperbot-data:/data"]
    assert bot["restart"] == "on-failure"
    assert "paperbot-data" in compose["volumes"]  # type: ignore[operator]


def test_the_systemd_unit_restarts_on_failure_and_stops_with_sigterm(tmp_path: Path) -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(ROOT / "deploy" / "paperbot.service", encoding="utf-8")
    service = unit["Service"]
    assert service["ExecStart"].endswith("paperbot run")
    assert service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"
    assert service["User"] != "root"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    exe = shutil.which("paperbot") or str(Path(sys.executable).with_name("paperbot"))
    text = (ROOT / "deploy" / "paperbot.service").read_text(encoding="utf-8")
    local = tmp_path / "paperbot.service"
    local.write_text(text.replace("/opt/paperbot/venv/bin/paperbot", exe), encoding="utf-8")
    done = subprocess.run(
        [analyze, "verify", str(local)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


def test_init_writes_commented_files_and_never_overwrites(
    tmp_path: Path, fake_arxiv: FakeArxiv
) -> None:
    folder = tmp_path / "team"
    done = paperbot(tmp_path, fake_arxiv.url, "init", str(folder))
    assert done.returncode == 0, done.stderr
    toml = (folder / "paperbot.toml").read_text(encoding="utf-8")
    assert toml == (ROOT / "paperbot.example.toml").read_text(encoding="utf-8")
    assert (folder / ".env").read_text(encoding="utf-8") == (ROOT / ".env.example").read_text(
        encoding="utf-8"
    )
    load_config(folder / "paperbot.toml")  # a working routes file
    (folder / ".env").write_text("LOG_LEVEL=DEBUG\n", encoding="utf-8")
    again = paperbot(tmp_path, fake_arxiv.url, "init", str(folder))
    assert again.returncode == 0 and "exists; left as it is" in again.stdout
    assert (folder / ".env").read_text(encoding="utf-8") == "LOG_LEVEL=DEBUG\n"


def test_the_package_ships_the_examples_it_writes() -> None:
    for shipped, source in (
        ("paperbot.example.toml", "paperbot.example.toml"),
        ("env.example", ".env.example"),
    ):
        assert (ROOT / "bot" / "data" / shipped).read_bytes() == (ROOT / source).read_bytes()
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"data/paperbot.example.toml", "data/env.example"' in pyproject


def test_a_command_in_an_empty_folder_says_to_run_init(
    tmp_path: Path, fake_arxiv: FakeArxiv
) -> None:
    done = paperbot(tmp_path, fake_arxiv.url, "recent")
    assert done.returncode == 1
    assert "paperbot init" in done.stderr and "copy paperbot.example.toml" not in done.stderr


# --- 2. status ------------------------------------------------------------------------------


@pytest.fixture
def run_lock(team: Path) -> Iterator[int]:
    """Hold the run lock as `paperbot run` does, with a pid in it."""
    fd = os.open(team / "paperbot.db.run.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, b"4242")
    yield fd
    os.close(fd)


def test_status_without_a_run_is_down(team: Path, fake_arxiv: FakeArxiv) -> None:
    done = paperbot(team, fake_arxiv.url, "status")
    assert done.returncode == 0, done.stderr
    assert "not running" in done.stdout and "Next poll: not scheduled" in done.stdout
    check = paperbot(team, fake_arxiv.url, "status", "--check")
    assert check.returncode == 2
    assert check.stdout.strip() == "down: no paperbot run holds the database"


def test_status_names_the_run_its_failures_channels_and_next_poll(
    team: Path, fake_arxiv: FakeArxiv, run_lock: int
) -> None:
    store = Store.open(team / "paperbot.db", lambda: NOW)
    when = NOW - timedelta(minutes=5)
    store.record_feed_run(FeedRun("rss:cs.DC+cs.OS", when - timedelta(hours=1), "ok"))
    store.record_feed_run(
        FeedRun("rss:cs.DC+cs.OS", when, "error", error="arXiv did not answer usefully")
    )
    store.set_next_poll(datetime(2030, 1, 2, 5, 0, tzinfo=UTC))
    store.close()
    done = paperbot(team, fake_arxiv.url, "status")
    assert "running (pid 4242)" in done.stdout
    assert f"last attempt {when:%Y-%m-%d %H:%M} UTC, error: arXiv did not answer" in done.stdout
    assert "Last error:" in done.stdout
    assert "Next poll: 2030-01-02 00:00 EST" in done.stdout
    assert "Chat slack: no token; slack:C0123456789 (storage: ignored" in done.stdout
    check = paperbot(team, fake_arxiv.url, "status", "--check")
    assert check.returncode == 1
    assert check.stdout.strip() == "degraded: the last poll of rss:cs.DC+cs.OS failed"
    record = json.loads(paperbot(team, fake_arxiv.url, "status", "--json").stdout)
    assert record["running"] is True and record["pid"] == 4242
    assert record["next_poll"] == "2030-01-02T00:00:00-05:00"
    assert record["feeds"][0]["status"] == "error"
    assert record["feeds"][0]["last_good"] == (when - timedelta(hours=1)).isoformat()


def test_status_check_is_healthy_when_the_last_polls_worked(
    team: Path, fake_arxiv: FakeArxiv, run_lock: int
) -> None:
    (team / "paperbot.toml").write_text(TWO_ROUTES.replace('slack_channel = "C0123456789"', ""))
    store = Store.open(team / "paperbot.db", lambda: NOW)
    store.record_feed_run(FeedRun("rss:cs.DC+cs.OS", NOW, "ok"))
    store.close()
    check = paperbot(team, fake_arxiv.url, "status", "--check")
    assert (check.returncode, check.stdout.split(":")[0]) == (0, "healthy")


# --- 3. --json: one record shape per command --------------------------------------------------


@pytest.mark.slow
def test_json_answers_are_typed_records(team: Path, fake_arxiv: FakeArxiv) -> None:
    def ask(*args: str) -> dict[str, object]:
        done = paperbot(team, fake_arxiv.url, *args, "--json")
        lines = done.stdout.splitlines()
        assert len(lines) == 1, done.stdout + done.stderr
        record = json.loads(lines[0])
        assert isinstance(record, dict)
        assert record["command"] == args[0]
        return record

    stats = ask("stats")
    assert stats["matched"] == 3 and stats["accepted"] == 1 and stats["votes"] == 1
    assert stats["top_voters"] == [{"user": "slack:U1", "votes": 1}]
    why = ask("why", "2611.00003")
    assert why["in_database"] is True
    assert [m["route"] for m in why["matches"]] == ["llm-systems", "storage"]  # type: ignore[attr-defined,index]
    assert why["decisions"][0]["decided_at"].startswith(str(NOW.year))  # type: ignore[index]
    empty = ask("search", "zebra")
    assert (empty["total"], empty["shown"], empty["papers"]) == (0, 0, [])
    accepted = ask("accepted")
    papers = accepted["papers"]
    assert isinstance(papers, list) and len(papers) == 1
    expected = {
        "id": "2611.00003",
        "title": "Caches for LLM serving",
        "url": "https://arxiv.org/abs/2611.00003",
        "routes": ["llm-systems", "storage"],
        "status": "accepted",
        "votes": {"up": 1, "down": 0},
        "listing_date": TODAY.isoformat(),
        "decided_by": "cli:ada",
    }
    assert {k: papers[0][k] for k in expected} == expected
    assert papers[0]["decided_at"].startswith(str(NOW.year))
    add = ask("add", "2611.00002")
    assert (add["id"], add["ok"], add["outcome"]) == ("2611.00002", True, "queued")


# --- 4. and 5. honest lists, search that finds ------------------------------------------------


def test_lists_report_the_true_total_and_take_a_limit(team: Path, fake_arxiv: FakeArxiv) -> None:
    done = paperbot(team, fake_arxiv.url, "recent", "5", "--limit", "2")
    assert done.stdout.splitlines()[0] == "Matched in the last 5 days: 3 (showing 2)"
    assert len(done.stdout.splitlines()) == 3
    every = paperbot(team, fake_arxiv.url, "recent", "5", "--all")
    assert every.stdout.splitlines()[0] == "Matched in the last 5 days: 3"
    both = paperbot(team, fake_arxiv.url, "recent", "--all", "--limit", "2")
    assert both.returncode == 2 and "--limit N or --all" in both.stderr


def test_search_folds_plurals_ranks_sorts_and_keeps_to_the_route(
    team: Path, fake_arxiv: FakeArxiv
) -> None:
    def ids(*args: str) -> list[str]:
        done = paperbot(team, fake_arxiv.url, "search", *args, "--json")
        return [p["id"] for p in json.loads(done.stdout)["papers"]]

    assert ids("caches") == ids("cache")
    assert sorted(ids("cache")) == ["2611.00001", "2611.00002", "2611.00003"]
    assert ids("cache", "--sort", "newest") == ["2611.00003", "2611.00002", "2611.00001"]
    assert ids("cache", "--route", "llm-systems") == ["2611.00003"]
    text = paperbot(team, fake_arxiv.url, "search", "cache", "--limit", "1").stdout
    assert text.splitlines()[0] == "Search for 'cache': 3 (showing 1)"


def test_stats_and_accepted_count_each_paper_once(team: Path, fake_arxiv: FakeArxiv) -> None:
    stats = paperbot(team, fake_arxiv.url, "stats").stdout
    assert stats.startswith("3 papers seen, 3 matched, 0 posted; 1 accepted,")
    scoped = paperbot(team, fake_arxiv.url, "stats", "--route", "llm-systems").stdout
    assert "1 matched" in scoped
    accepted = paperbot(team, fake_arxiv.url, "accepted").stdout.splitlines()
    assert accepted[0] == "Accepted in the last 7 days: 1"
    assert accepted[1].endswith("(llm-systems, storage, by cli:ada)")


# --- 6. logs --------------------------------------------------------------------------------


def test_logging_quiets_the_scheduler_and_known_warnings_and_speaks_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("INFO", "json")
        assert logging.getLogger("apscheduler").getEffectiveLevel() == logging.WARNING
        logging.getLogger("apscheduler.executors.default").info("Job executed successfully")
        logging.getLogger("discord.client").warning(
            "PyNaCl is not installed, voice will NOT be supported"
        )
        logging.getLogger("slack_bolt.App").warning(
            "As you gave `client` as well, `token` will be unused."
        )
        logging.getLogger("bot.test").warning("a real warning")
        lines = capsys.readouterr().err.splitlines()
        assert [json.loads(line)["message"] for line in lines] == ["a real warning"]
        assert json.loads(lines[0])["level"] == "WARNING"
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("apscheduler").setLevel(logging.NOTSET)


def test_every_setting_is_in_env_example() -> None:
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    named = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))
    assert {name.upper() for name in Settings.model_fields} <= named
    assert "LOG_FORMAT=text" in example


# --- 7. start-up ----------------------------------------------------------------------------


def test_search_imports_only_what_it_uses(team: Path, fake_arxiv: FakeArxiv) -> None:
    probe = (
        "import sys\nfrom bot.cli import main\ntry:\n    main(['search', 'cache'])\n"
        "except SystemExit:\n    pass\nprint(' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=env_for(team, fake_arxiv.url),
        cwd=team,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    loaded = set(done.stderr.split())
    assert "storage.store" in loaded
    unused = {"aiohttp", "tqdm", "numpy", "slack_bolt", "discord", "bot.app", "bot.runner"}
    assert not unused & loaded


def test_help_works_whatever_env_holds(tmp_path: Path, fake_arxiv: FakeArxiv) -> None:
    (tmp_path / ".env").write_text("LOG_LEVEL=LOUD\n", encoding="utf-8")
    done = paperbot(tmp_path, fake_arxiv.url, "search", "--help")
    assert done.returncode == 0 and "--sort" in done.stdout
    bad = paperbot(tmp_path, fake_arxiv.url, "search", "x")
    assert bad.returncode == 1 and "LOG_LEVEL" in bad.stderr


# --- 8. onboarding --------------------------------------------------------------------------


def test_a_channel_on_a_platform_without_a_token_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "paperbot.toml").write_text(TWO_ROUTES, encoding="utf-8")
    routes = load_config(tmp_path / "paperbot.toml").routes
    with caplog.at_level(logging.WARNING, logger="bot.app"):
        warn_unused_channels(routes, {"console": MemoryChat()})  # type: ignore[dict-item]
    assert "route storage names slack channel C0123456789, but SLACK_BOT_TOKEN" in caplog.text


@pytest.mark.parametrize(
    ("category", "hint"),
    [("cs.dc", "did you mean 'cs.DC'"), ("cs.DCC", "did you mean 'cs.DC'"), ("cs.XX", "taxonomy")],
)
def test_unknown_categories_are_refused_with_a_suggestion(
    tmp_path: Path, category: str, hint: str
) -> None:
    path = tmp_path / "paperbot.toml"
    path.write_text(f'[[routes]]\nname = "x"\ncategories = ["{category}"]\naccept = ["llm"]\n')
    with pytest.raises(ConfigError, match=re.escape(hint)) as err:
        load_config(path)
    assert "line 3" in str(err.value)


async def test_a_newly_configured_platform_gets_the_latest_listing(
    tmp_path: Path, clock: FakeClock
) -> None:
    config = tmp_path / "paperbot.toml"
    config.write_text(
        '[[routes]]\nname = "r"\ncategories = ["cs.DC"]\naccept = ["llm"]\n'
        'slack_channel = "C0123456789"\n',
        encoding="utf-8",
    )
    store = Store.open(tmp_path / "paperbot.db", clock)
    day = date(2026, 11, 24)
    store.upsert_papers(
        [paper("2611.00001", "LLM old", day - timedelta(days=1)), paper("2611.00002", "LLM", day)]
    )
    reason = (Reason("llm", "title", "LLM"),)
    store.add_matches([Match(p, "r", reason) for p in ("2611.00001", "2611.00002")], "poll")
    console = MemoryChat()  # no token yet: posts go to the console-like chat
    app = wire(store=store, rules=RulesSource(config), clock=clock, chats={"test": console})
    await app.poster.reconcile()
    await app.poster.post_queued()
    assert len(console.messages) == 1  # a new channel: the latest listing only

    slack = MemoryChat()
    slack.platform = "slack"  # the token is set: Slack runs now
    app = wire(store=store, rules=RulesSource(config), clock=clock, chats={"slack": slack})
    await app.poster.reconcile()
    await app.poster.post_queued()
    assert [(m.channel, m.view.paper.id) for m in slack.messages if m.view] == [
        ("C0123456789", "2611.00002")
    ]
    await app.poster.reconcile()  # a restart posts nothing twice
    await app.poster.post_queued()
    assert len(slack.messages) == 1
    store.close()


def test_make_run_installs_without_the_dev_tools() -> None:
    done = subprocess.run(
        ["make", "-n", "-B", "run"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    installs = [ln for ln in done.stdout.splitlines() if "pip install" in ln]
    assert installs and not any("[dev]" in ln for ln in installs), done.stdout


# --- 9. flags and failures ------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--dry-run", "--json"])
def test_poll_flags_that_need_once_are_refused(
    tmp_path: Path, fake_arxiv: FakeArxiv, config_file: Path, flag: str
) -> None:
    done = paperbot(tmp_path, fake_arxiv.url, "poll", flag)
    assert done.returncode == 2 and f"{flag} applies to one poll only: add --once" in done.stderr
    assert fake_arxiv.requests == []


def test_poll_once_fails_at_once_when_nothing_listens(tmp_path: Path, config_file: Path) -> None:
    # 20 tries 10 minutes apart: retrying would outlast the deadline many times over.
    done = paperbot(
        tmp_path, "http://127.0.0.1:9", "poll", "--once", ARXIV_RETRIES="20", ARXIV_RETRY_WAIT="600"
    )
    assert done.returncode == 1
    assert "arXiv could not be polled: cannot reach" in done.stderr
    assert "no new matches" not in done.stdout


def test_a_wrong_path_is_final_not_retried(
    tmp_path: Path, fake_arxiv: FakeArxiv, config_file: Path
) -> None:
    fake_arxiv.queue(FEED, Answer(b"not here", status=404))
    done = paperbot(tmp_path, fake_arxiv.url, "poll", "--once", ARXIV_RETRIES="3")
    assert done.returncode == 1 and "HTTP 404" in done.stderr
    assert len(fake_arxiv.requests_to(FEED)) == 1


def test_retry_after_is_read_in_both_forms() -> None:
    now = datetime(2026, 11, 24, 15, 0, tzinfo=UTC).timestamp()
    assert _retry_after("120", lambda: now) == 120.0
    assert _retry_after("Tue, 24 Nov 2026 15:01:30 GMT", lambda: now) == 90.0
    assert _retry_after("Tue, 24 Nov 2026 14:00:00 GMT", lambda: now) == 0.0
    assert _retry_after("soon", lambda: now) is None


# --- the whole install, outside the repository -----------------------------------------------


@pytest.mark.slow
def test_pip_install_init_and_a_dry_run_poll_in_a_fresh_virtualenv(
    tmp_path: Path, fake_arxiv: FakeArxiv
) -> None:
    """Wheel built once from the repository; dependencies come from this environment's
    site-packages (read-only, through a .pth file), so nothing is downloaded."""
    source = tmp_path / "source"  # built from a copy: the working tree gets no build/
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "paperbot.example.toml", ".env.example"):
        shutil.copy(ROOT / name, source / name)
    for package in ("bot", "storage"):
        shutil.copytree(
            ROOT / package,
            source / package,
            symlinks=True,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [*PIP, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if build.returncode != 0 and "No module named 'setuptools'" in build.stderr:
        pytest.skip("setuptools is not installed here to build the wheel")
    assert build.returncode == 0, build.stderr
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    deps = [p for p in map(Path, sys.path) if p.name == "site-packages"]
    Path(site, "deps.pth").write_text("\n".join(map(str, deps)) + "\n", encoding="utf-8")
    wheel = next(wheels.glob("paperbot-*.whl"))
    install = subprocess.run(
        [*PIP, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    folder = tmp_path / "somewhere"
    folder.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARXIV_", "PAPERBOT_"))}
    env.pop("PYTHONPATH", None)
    env.update(
        ARXIV_RSS_URL=f"{fake_arxiv.url}/rss/",
        ARXIV_API_URL=f"{fake_arxiv.url}/api/query",
        ARXIV_MIN_INTERVAL="0",
        ARXIV_RETRY_WAIT="0",
    )
    exe = str(env_dir / "bin" / "paperbot")
    init = subprocess.run(
        [exe, "init"], cwd=folder, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert init.returncode == 0, init.stderr
    fake_arxiv.queue(FEED, Answer(rss(TODAY, [Item("2611.10001", "Serving LLMs at Scale")])))
    poll = subprocess.run(
        [exe, "poll", "--once", "--dry-run"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert poll.returncode == 0, poll.stderr
    assert "2611.10001" in poll.stdout and "1 new matches" in poll.stdout
    where = subprocess.run(
        [str(python), "-c", "import bot; print(bot.__file__)"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(env_dir))
