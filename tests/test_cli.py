"""The `paperbot` command as a user runs it: a real process, a local arXiv."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from tests.conftest import env_for
from tests.fakes.arxiv import Answer, FakeArxiv
from tests.fakes.feeds import Item, rss
from tests.fakes.git import git, local_repo

FEED = "/rss/cs.DC+cs.OS"
# The listing date is whatever day it is: `paperbot` runs on the real clock here.
TODAY = date.today()  # noqa: DTZ011


def paperbot(
    tmp_path: Path, arxiv_url: str, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env_for(tmp_path, arxiv_url, **env),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_poll_once_json_prints_each_new_match(
    tmp_path: Path, fake_arxiv: FakeArxiv, config_file: Path
) -> None:
    fake_arxiv.queue(
        FEED,
        Answer(
            rss(
                TODAY,
                [
                    Item("2611.10001", "Serving LLMs at Scale"),
                    Item("2611.10002", "Average storage leverage"),
                ],
            )
        ),
    )
    done = paperbot(tmp_path, fake_arxiv.url, "poll", "--once", "--json")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(x["id"], x["route"]) for x in lines] == [("2611.10001", "llm-systems")]
    assert lines[0]["title"] == "Serving LLMs at Scale"
    assert lines[0]["reasons"] == [{"term": "llm", "field": "title", "text": "LLMs"}]

    again = paperbot(tmp_path, fake_arxiv.url, "poll", "--once")
    assert again.returncode == 0
    assert again.stdout.strip() == "no new matches"


def test_poll_once_dry_run_leaves_no_database_rows(
    tmp_path: Path, fake_arxiv: FakeArxiv, config_file: Path
) -> None:
    fake_arxiv.queue(FEED, Answer(rss(TODAY, [Item("2611.10001", "Serving LLMs at Scale")])))
    dry = paperbot(tmp_path, fake_arxiv.url, "poll", "--once", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "2611.10001" in dry.stdout and "1 new matches" in dry.stdout
    real = paperbot(tmp_path, fake_arxiv.url, "poll", "--once", "--json")
    assert json.loads(real.stdout.splitlines()[0])["id"] == "2611.10001"


def test_a_broken_config_exits_non_zero_naming_file_and_line(
    tmp_path: Path, fake_arxiv: FakeArxiv
) -> None:
    (tmp_path / "paperbot.toml").write_text(
        "[[routes]]\nname = 'x'\ncategories = ['cs.DC']\naccept = 'llm'\n", encoding="utf-8"
    )
    done = paperbot(tmp_path, fake_arxiv.url, "poll", "--once")
    assert done.returncode == 1
    assert "paperbot.toml, line 4" in done.stderr
    assert "Traceback" not in done.stderr
    assert fake_arxiv.requests == []


def test_a_bad_setting_exits_non_zero_with_one_sentence(
    tmp_path: Path, fake_arxiv: FakeArxiv, config_file: Path
) -> None:
    done = paperbot(tmp_path, fake_arxiv.url, "poll", "--once", ARXIV_FEED_FORMAT="json")
    assert done.returncode == 1
    assert "ARXIV_FEED_FORMAT" in done.stderr and "Traceback" not in done.stderr


def test_poll_fails_clearly_when_arxiv_is_unreachable(tmp_path: Path, config_file: Path) -> None:
    done = paperbot(tmp_path, "http://127.0.0.1:9", "poll", "--once")
    assert done.returncode == 1
    assert "arXiv could not be polled" in done.stderr
    assert "Traceback" not in done.stderr


def test_rules_import_csv(tmp_path: Path, fake_arxiv: FakeArxiv, config_file: Path) -> None:
    (tmp_path / "accept.csv").write_bytes(b"\xef\xbb\xbfprefill\r\nmoe")
    (tmp_path / "reject.csv").write_bytes(b"gnn\r\n")
    done = paperbot(
        tmp_path,
        fake_arxiv.url,
        "rules",
        "import-csv",
        "--route",
        "llm-systems",
        "--accept",
        "accept.csv",
        "--reject",
        "reject.csv",
    )
    assert done.returncode == 0, done.stderr
    assert "2 accept and 1 reject terms added" in done.stdout
    text = config_file.read_text(encoding="utf-8")
    assert '"prefill"' in text and '"gnn"' in text and text.startswith("# The team's rules.")


def test_run_stays_up_while_arxiv_is_down_and_stops_cleanly_on_ctrl_c(
    tmp_path: Path, config_file: Path
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        env=env_for(tmp_path, "http://127.0.0.1:9"),
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = ""
    deadline = time.monotonic() + 30
    assert proc.stderr is not None
    while "listing feed" not in seen and time.monotonic() < deadline:
        seen += proc.stderr.readline()
    assert proc.poll() is None, "run must not exit because arXiv is unreachable"
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=20)[1]
    assert proc.returncode == 0, rest
    assert "failed" in seen
    assert "paperbot stopped" in rest


def _without_top_section(text: str) -> str:
    first = text.index("### ")
    second = text.index("### ", first + 1)
    return text[:first] + text[second:]


@pytest.mark.slow
def test_list_import_then_render_reproduces_the_list(
    tmp_path: Path, fake_arxiv: FakeArxiv, config_file: Path, shared_fixtures: Path
) -> None:
    newer = shared_fixtures / "lists" / "daily-arxiv-llm.2025-03-17.md"
    older = tmp_path / "older.md"
    older.write_bytes(_without_top_section(newer.read_text("utf-8")).encode())

    imported = paperbot(tmp_path, fake_arxiv.url, "list", "import", str(newer))
    assert imported.returncode == 0, imported.stderr
    assert "newly recorded as accepted for route 'llm-systems'" in imported.stdout
    again = paperbot(tmp_path, fake_arxiv.url, "list", "import", str(newer))
    assert ", 0 newly recorded" in again.stdout

    same = paperbot(tmp_path, fake_arxiv.url, "list", "render", "--base", str(newer))
    assert same.stdout == newer.read_text("utf-8")  # round trip, byte for byte
    out = tmp_path / "rendered.md"
    evolved = paperbot(
        tmp_path, fake_arxiv.url, "list", "render", "--base", str(older), "--out", str(out)
    )
    assert evolved.returncode == 0, evolved.stderr
    assert out.read_bytes() == newer.read_bytes()


def test_list_render_without_a_base_starts_a_fresh_list(
    tmp_path: Path, fake_arxiv: FakeArxiv, config_file: Path
) -> None:
    done = paperbot(tmp_path, fake_arxiv.url, "list", "render")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "The paper list will be updated automatically, please do not edit.\n\n"


def test_list_import_reports_duplicates_without_changing_the_file(
    tmp_path: Path, fake_arxiv: FakeArxiv, config_file: Path
) -> None:
    text = (
        "The paper list will be updated automatically, please do not edit.\n\n"
        "### 2026-11-24\n\n"
        "* [A](https://arxiv.org/abs/2611.00001)\n"
        "* [A again](http://arxiv.org/abs/2611.00001v2)\n\n\n"
    )
    path = tmp_path / "list.md"
    path.write_text(text, encoding="utf-8")
    done = paperbot(tmp_path, fake_arxiv.url, "list", "import", str(path))
    assert done.returncode == 0, done.stderr
    assert "2 entries, 1 newly recorded" in done.stdout
    assert "duplicate 2611.00001 at line 5, line 6" in done.stdout
    assert path.read_text(encoding="utf-8") == text


def test_list_publish_without_a_list_table_says_what_to_add(
    tmp_path: Path, fake_arxiv: FakeArxiv, config_file: Path
) -> None:
    done = paperbot(tmp_path, fake_arxiv.url, "list", "publish")
    assert done.returncode == 2
    assert "[routes.list]" in done.stderr


def _start_run(tmp_path: Path, arxiv_url: str, **env: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        env=env_for(tmp_path, arxiv_url, **env),
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen = ""
    deadline = time.monotonic() + 30
    while "paperbot running" not in seen and proc.poll() is None and time.monotonic() < deadline:
        seen += proc.stderr.readline()
    return proc, seen


@pytest.mark.slow
def test_a_second_run_on_the_same_database_refuses_and_backup_works_meanwhile(
    tmp_path: Path, fake_arxiv: FakeArxiv, config_file: Path
) -> None:
    fake_arxiv.queue(FEED, Answer(rss(TODAY, [Item("2611.10001", "Serving LLMs at Scale")])))
    first, seen = _start_run(tmp_path, fake_arxiv.url)
    try:
        assert "paperbot running" in seen, seen
        second = paperbot(tmp_path, fake_arxiv.url, "run")
        assert second.returncode == 1
        assert "another paperbot run" in second.stderr
        assert "Traceback" not in second.stderr

        deadline = time.monotonic() + 30  # the first poll runs right after start-up
        while "Serving LLMs" not in paperbot(tmp_path, fake_arxiv.url, "why", "2611.10001").stdout:
            assert time.monotonic() < deadline, "the first poll never stored the paper"
            time.sleep(0.2)
        backup = paperbot(tmp_path, fake_arxiv.url, "db", "backup", str(tmp_path / "copy.db"))
        assert backup.returncode == 0, backup.stderr
        again = paperbot(
            tmp_path, fake_arxiv.url, "why", "2611.10001", PAPERBOT_DB=str(tmp_path / "copy.db")
        )
        assert "Serving LLMs at Scale" in again.stdout
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=20)
    assert first.returncode == 0
    # the OS released the lock with the process: the next run starts
    restarted, seen = _start_run(tmp_path, fake_arxiv.url)
    restarted.send_signal(signal.SIGKILL)
    restarted.wait(10)
    assert "paperbot running" in seen


def test_curators_decide_from_the_cli_and_queries_answer_in_json(
    tmp_path: Path, fake_arxiv: FakeArxiv, config_file: Path
) -> None:
    fake_arxiv.queue(
        FEED,
        Answer(
            rss(TODAY, [Item("2611.10001", "Serving LLMs"), Item("2611.10002", "LLM decoding")])
        ),
    )
    assert paperbot(tmp_path, fake_arxiv.url, "poll", "--once").returncode == 0
    accepted = paperbot(tmp_path, fake_arxiv.url, "accept", "2611.10001", "--by", "alice")
    assert accepted.stdout.strip() == "2611.10001 accepted on llm-systems by cli:alice"
    listed = paperbot(tmp_path, fake_arxiv.url, "accepted", "--json")
    rows = json.loads(listed.stdout)["papers"]
    assert [(r["id"], r["routes"], r["decided_by"]) for r in rows] == [
        ("2611.10001", ["llm-systems"], "cli:alice")
    ]
    recent = paperbot(tmp_path, fake_arxiv.url, "recent", "--json")
    assert sorted(p["id"] for p in json.loads(recent.stdout)["papers"]) == [
        "2611.10001",
        "2611.10002",
    ]
    found = paperbot(tmp_path, fake_arxiv.url, "search", "decoding")
    assert "LLM decoding" in found.stdout
    bad = paperbot(tmp_path, fake_arxiv.url, "recent", "lots")
    assert bad.returncode == 2
    assert "'lots' is not a number of days" in bad.stderr
    unknown = paperbot(tmp_path, fake_arxiv.url, "reject", "not-an-id")
    assert unknown.returncode == 2
    assert "not an arXiv id" in unknown.stderr


def test_discord_invite_prints_the_oauth_link(tmp_path: Path, fake_arxiv: FakeArxiv) -> None:
    done = paperbot(tmp_path, fake_arxiv.url, "discord", "invite", "--application-id", "4242")
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip()
    assert url.startswith("https://discord.com/oauth2/authorize?")
    assert "client_id=4242" in url
    assert "permissions=85056" in url
    assert "applications.commands" in url


def test_the_whole_loop_runs_without_any_chat_token(
    tmp_path: Path, fake_arxiv: FakeArxiv, config_file: Path
) -> None:
    """make run's situation: console chat, a curator decides from the CLI, the list is committed."""
    repo = local_repo(
        tmp_path / "papers",
        {"papers.md": "The paper list will be updated automatically, please do not edit.\n\n"},
    )
    with config_file.open("a", encoding="utf-8") as routes:
        routes.write("[routes.list]\nrepo = 'papers'\npath = 'papers.md'\n")
    fake_arxiv.queue(FEED, Answer(rss(TODAY, [Item("2611.10001", "Serving LLMs at Scale")])))
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        env=env_for(tmp_path, fake_arxiv.url, PAPERBOT_PUBLISH_INTERVAL="1"),
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    log = ""
    try:
        while "new paper 2611.10001" not in log and proc.poll() is None:
            log += proc.stderr.readline()  # the console chat posts to the log
        decided = paperbot(tmp_path, fake_arxiv.url, "accept", "2611.10001", "--by", "alice")
        assert decided.returncode == 0, decided.stderr
        deadline = time.monotonic() + 30
        while "2611.10001" not in git(repo, "log", "-1", "--format=%B"):
            assert time.monotonic() < deadline, "the accepted paper was never committed"
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        log += proc.communicate(timeout=20)[1]
    assert proc.returncode == 0, log
    listed = git(repo, "show", "HEAD:papers.md")
    assert (
        f"### {TODAY.isoformat()}\n\n* [Serving LLMs at Scale](https://arxiv.org/abs/2611.10001)\n"
        in listed
    )


def test_an_unusable_database_stops_start_up_with_one_sentence(
    tmp_path: Path, fake_arxiv: FakeArxiv, config_file: Path
) -> None:
    missing = str(tmp_path / "no-such-folder" / "paperbot.db")
    for command in (["run"], ["poll", "--once"], ["recent"]):
        done = paperbot(tmp_path, fake_arxiv.url, *command, PAPERBOT_DB=missing)
        assert done.returncode == 1, command
        assert "PAPERBOT_DB" in done.stderr, command
        assert "Traceback" not in done.stderr, command


@pytest.mark.slow
def test_sigterm_mid_poll_exits_cleanly_within_ten_seconds(
    tmp_path: Path, fake_arxiv: FakeArxiv, config_file: Path
) -> None:
    fake_arxiv.queue(FEED, Answer(rss(TODAY, []), delay=60))  # arXiv hangs on the first poll
    proc, seen = _start_run(tmp_path, fake_arxiv.url, ARXIV_TIMEOUT="120")
    assert "paperbot running" in seen
    deadline = time.monotonic() + 20
    while not fake_arxiv.requests and time.monotonic() < deadline:
        time.sleep(0.05)  # the poll is in flight
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=30)[1]
    assert proc.returncode == 0, rest
    assert time.monotonic() - started < 10  # the promise: in-flight work gets 6 s, then stop
    assert "paperbot stopped" in rest
