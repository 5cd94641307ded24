"""The static site: render (page, feed, JSON, BibTeX), the writer's manifest, the routes file,
the CLI, and publishing it in the list's commit, in real git repositories in tmp folders."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import feedparser
import pytest
from lxml import etree

from bot.config import load_config
from bot.errors import ConfigError
from bot.models import Incoming, ListTarget, Match, Paper, Reason, Route, SiteTarget
from bot.publish import Publisher
from bot.site import MANIFEST, SitePaper, render_site, site_papers, write_site
from bot.site.fast import paper_html
from bot.site.render import _environment
from storage.store import Store
from tests.conftest import FakeClock
from tests.fakes.git import git, local_repo

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
ROUTE = Route("llm", ("cs.DC",), site=SiteTarget(title="LLM systems papers"))
ATOM = "{http://www.w3.org/2005/Atom}"


def paper(n: int, **kw: object) -> SitePaper:
    fields: dict[str, object] = {
        "id": f"2611.{n:05d}",
        "title": f"Paper {n}",
        "accepted_at": datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=n),
        "seq": n,
        "date": date(2026, 11, 1 + n % 20),
    }
    fields.update(kw)
    return SitePaper(**fields)  # type: ignore[arg-type]


def tricky() -> list[SitePaper]:
    return [
        paper(
            1,
            title='<script>alert("x")</script> & [KV] cache',
            authors=("Ada O'Neil", "Bo <Li>"),
            tags=("serving", "MoE"),
            tldr="Faster & smaller {quoted} 100% $x_1$ ~ # \\ end",
            reasons=(Reason("kv cache", "title", "KV cache"), Reason("llm", "abstract", "LLM")),
            ups=3,
            downs=1,
            categories=("cs.DC",),
        ),
        paper(2),  # nothing optional
        paper(3, id="math/0309136", date=None, tags=("a|b", 'q"t')),
    ]


def test_fast_article_html_is_what_the_paper_template_renders() -> None:
    papers = tricky()
    template = _environment(None).get_template("paper.html")
    assert paper_html(papers) == [template.render(p=p) for p in papers]


def test_page_lists_every_paper_newest_listing_first_escaped() -> None:
    papers = [paper(n) for n in range(1, 30)] + tricky()[2:]
    page = render_site(papers, ROUTE, NOW)["index.html"].decode()
    tree = etree.HTML(page)
    ids = [a.get("id") for a in tree.iter("article")]
    assert len(ids) == len(papers)
    dates = [a.get("data-date") for a in tree.iter("article") if a.get("data-date")]
    assert dates == sorted(dates, reverse=True)
    assert tree.findall(".//section")[-1].findtext("h2") == "Undated"
    bad = render_site(tricky(), ROUTE, NOW)["index.html"].decode()
    assert "<script>alert" not in bad and "&lt;script&gt;alert" in bad
    assert 'src="http' not in bad and 'href="http' not in bad.split("<main>")[0]  # no CDN


def test_feed_is_atom_with_required_elements_and_stable_ids(tmp_path: Path) -> None:
    papers = [paper(n, authors=(f"Author {n}",), tags=("serving",)) for n in range(1, 151)]
    feed_xml = render_site(papers, ROUTE, NOW)["feed.xml"]
    root = etree.fromstring(feed_xml)
    for name in ("id", "title", "updated", "author"):  # RFC 4287 4.1.1
        assert root.find(ATOM + name) is not None, name
    entries = root.findall(ATOM + "entry")
    assert len(entries) == 100
    for entry in entries:  # 4.1.2: id, title, updated; a link as there is no content
        for name in ("id", "title", "updated", "link"):
            assert entry.find(ATOM + name) is not None, name
    parsed = feedparser.parse(feed_xml)
    assert not parsed.bozo and parsed.version == "atom10"
    assert parsed.entries[0].tags[0].term == "serving"
    assert parsed.entries[0].id == "https://arxiv.org/abs/2611.00150"  # the last accepted
    again = render_site(list(reversed(papers)), ROUTE, datetime(2030, 1, 1, tzinfo=UTC))
    assert again["feed.xml"] == feed_xml  # rebuilt later, in another order: the same bytes
    empty = feedparser.parse(render_site([], ROUTE, NOW)["feed.xml"])
    assert not empty.bozo and empty.feed.updated == "2026-11-24T15:00:00Z"


def test_json_and_bibtex_carry_the_papers() -> None:
    files = render_site(tricky(), ROUTE, NOW)
    data = json.loads(files["papers.json"])
    assert data["schema"] == "paperbot-site/1" and data["count"] == 3
    first = next(p for p in data["papers"] if p["id"] == "2611.00001")
    assert first["authors"] == ["Ada O'Neil", "Bo <Li>"]
    assert first["votes"] == {"up": 3, "down": 1}
    assert first["reasons"][0] == {"term": "kv cache", "field": "title", "text": "KV cache"}
    assert len(files["papers.json"].decode().splitlines()) == 3 + 2  # one paper a line
    bib = files["papers.bib"].decode()
    assert "@misc{arxiv:2611.00001," in bib and "eprint = {math/0309136}" in bib
    assert "year = {2003}" in bib and "year = {2026}" in bib
    assert "author = {Ada O'Neil and Bo <Li>}" in bib
    assert 'title = {<script>alert("x")</script> \\& [KV] cache}' in bib


def test_writer_keeps_other_files_and_warns_before_overwriting_edits(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "CNAME").write_text("papers.example.org\n")
    files = render_site(tricky(), ROUTE, NOW)
    written = write_site(folder, files)
    assert set(written) == {*files, MANIFEST}
    assert (folder / "CNAME").read_text() == "papers.example.org\n"
    caplog.set_level(logging.WARNING)
    write_site(folder, files)
    assert not caplog.records  # nothing changed, nothing said
    (folder / "index.html").write_text("my own page")
    write_site(folder, files)
    assert "edited by hand" in caplog.text and "index.html" in caplog.text
    assert (folder / "index.html").read_bytes() == files["index.html"]
    assert (folder / "CNAME").read_text() == "papers.example.org\n"


def test_routes_file_site_table(tmp_path: Path) -> None:
    path = tmp_path / "paperbot.toml"
    base = '[[routes]]\nname = "llm"\ncategories = ["cs.DC"]\n'
    path.write_text(
        base + '[routes.list]\nrepo = "list"\npath = "papers.md"\n'
        '[routes.site]\npath = "docs"\ntitle = "Our papers"\ntemplates = "tpl"\n'
    )
    site = load_config(path).routes[0].site
    assert site == SiteTarget("docs", "Our papers", None, tmp_path / "tpl")
    path.write_text(base + '[routes.site]\ntitle = "No list"\n')
    with pytest.raises(ConfigError, match=r"needs a \[routes.list\] table"):
        load_config(path)
    path.write_text(
        base + '[routes.list]\nrepo = "l"\npath = "p.md"\n[routes.site]\n'
        'path = "../out"\ntitle = "x"\n'
    )
    with pytest.raises(ConfigError, match=r"line 8: routes\.0\.site\.path"):
        load_config(path)


def test_a_route_template_folder_overrides_the_paper_template(tmp_path: Path) -> None:
    (tmp_path / "paper.html").write_text("<article>{{ p.id }} mine</article>\n")
    route = Route("llm", ("cs.DC",), site=SiteTarget(title="T", templates=tmp_path))
    page = render_site([paper(1)], route, NOW)["index.html"].decode()
    assert "<article>2611.00001 mine</article>" in page


def _accept(store: Store, n: int, day: date) -> str:
    pid = f"2611.{n:05d}"
    store.upsert_papers(
        [Incoming(Paper(pid, f"Paper {n}", authors=("A. Author",)), day, True, "rss:cs.DC")]
    )
    store.add_matches([Match(pid, "llm", (Reason("llm", "title", "LLM"),))], "poll")
    store.decide(pid, "llm", "accepted", "votes", "2 up")
    return pid


def test_site_data_from_the_store(tmp_path: Path, clock: FakeClock) -> None:
    store = Store.open(tmp_path / "paperbot.db", clock)
    pid = _accept(store, 1, date(2026, 11, 23))
    store.post_intent(pid, "slack:C1", ["llm"])
    store.set_vote(pid, "slack:U1", 1, "button", "slack:C1")
    store.set_vote(pid, "slack:U2", -1, "button", "slack:C1")
    text = "### 2026-11-23\n* `serving` [Paper 1](https://arxiv.org/abs/2611.00001)\n"
    [got] = site_papers(store, ROUTE, text + "  > **TL;DR**: short.\n")
    assert (got.ups, got.downs, got.tags, got.tldr) == (1, 1, ("serving",), "short.")
    assert got.reasons == (Reason("llm", "title", "LLM"),) and got.authors == ("A. Author",)


def test_publish_commits_list_and_site_together_and_nothing_when_nothing_is_new(
    tmp_path: Path, clock: FakeClock
) -> None:
    store = Store.open(tmp_path / "paperbot.db", clock)
    (tmp_path / "list" / "docs").mkdir(parents=True)
    repo = local_repo(tmp_path / "list", {"README.md": "team\n", "docs/CNAME": "x.org\n"})
    route = Route(
        "llm",
        ("cs.DC",),
        list_target=ListTarget(repo=repo, path="papers.md"),
        site=SiteTarget(path="docs", title="Our papers"),
    )
    _accept(store, 1, date(2026, 11, 23))
    first = Publisher(store).publish(route)
    assert first.commit is not None
    changed = git(repo, "show", "--name-only", "--format=", "HEAD").split()
    assert "papers.md" in changed and "docs/index.html" in changed and "docs/feed.xml" in changed
    assert "docs/CNAME" not in changed
    assert git(repo, "status", "--porcelain") == ""  # work tree and index follow the commit
    clock.advance(hours=1)
    assert Publisher(store).publish(route).commit is None  # nothing new: no commit
    _accept(store, 2, date(2026, 11, 24))
    second = Publisher(store).publish(route)
    assert second.commit is not None and git(repo, "rev-list", "--count", "HEAD") == "3\n"
    page = git(repo, "show", "HEAD:docs/index.html")
    assert "2611.00002" in page and "2611.00001" in page
    assert git(repo, "status", "--porcelain") == ""


def test_cli_site_render(tmp_path: Path) -> None:
    (tmp_path / "paperbot.toml").write_text(
        '[[routes]]\nname = "llm"\ncategories = ["cs.DC"]\n'
        '[routes.list]\nrepo = "list"\npath = "papers.md"\n'
        '[routes.site]\ntitle = "Our papers"\n'
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PAPERBOT_DB": str(tmp_path / "paperbot.db"),
        "PAPERBOT_CONFIG": str(tmp_path / "paperbot.toml"),
    }
    list_file = tmp_path / "l.md"
    list_file.write_text(
        "### 2026-03-30\n* `kernel` [A paper](http://arxiv.org/abs/2603.27914v1)\n"
    )
    run = [sys.executable, "-m", "bot"]
    subprocess.run([*run, "list", "import", str(list_file)], env=env, cwd=tmp_path, check=True)
    done = subprocess.run(
        [*run, "site", "render", "--out", str(tmp_path / "out")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "2603.27914" in (tmp_path / "out" / "index.html").read_text()
    assert (tmp_path / "out" / MANIFEST).is_file()
