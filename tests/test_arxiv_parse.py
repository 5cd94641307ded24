"""Listing feeds and API pages: real formats in, `bot.models` out, `FeedError` for anything else.

Our own fixtures live in tests/fixtures/arxiv/ (written in arXiv's formats for one cs.DC+cs.OS
day, 2026-02-03); the real captured responses in ../shared/fixtures/arxiv/ are used when present.
"""

from __future__ import annotations

import contextlib
import json
import logging
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.arxiv.api import build_query_url, category_query, parse_api_page
from bot.arxiv.feeds import parse_listing
from bot.errors import FeedError
from bot.models import AnnounceType, ApiPage, FeedBatch, Paper
from tests.conftest import examples

HERE = Path(__file__).resolve().parent / "fixtures" / "arxiv"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "arxiv"
NEW_YORK = ZoneInfo("America/New_York")
API = "https://export.arxiv.org/api/query"


def own(name: str) -> bytes:
    return (HERE / name).read_bytes()


def shared(name: str) -> bytes:
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"shared fixture {path} is not present")
    return path.read_bytes()


def shared_json_body(name: str) -> bytes:
    """The recorded API answers are wrapped as {url, status_code, body}."""
    return str(json.loads(shared(name))["body"]).encode("latin-1")


def summary(batch: FeedBatch) -> list[tuple[str, int, AnnounceType]]:
    return [(x.paper.id, x.paper.version, x.announce_type) for x in batch.listings]


def rss(items: str, *, pub_date: str = "Tue, 03 Feb 2026 00:00:00 -0500") -> bytes:
    """A small RSS 2.0 listing in arXiv's shape around the given <item> elements."""
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/"
     version="2.0">
  <channel>
    <title>cs.DC updates on arXiv.org</title>
    <link>http://rss.arxiv.org/rss/cs.DC</link>
    <description>cs.DC updates on the arXiv.org e-print archive.</description>
    <lastBuildDate>Tue, 03 Feb 2026 05:31:47 +0000</lastBuildDate>
    <pubDate>{pub_date}</pubDate>
    {items}
  </channel>
</rss>
""".encode()


def item(
    *,
    guid: str | None = "oai:arXiv.org:2602.02117v1",
    description: str = "arXiv:2602.02117v1 Announce Type: new \nAbstract: An abstract.",
    link: str | None = "https://arxiv.org/abs/2602.02117",
    announce: str | None = "new",
    title: str = "A title",
    extra: str = "",
) -> str:
    parts = [f"<title>{title}</title>", f"<description>{description}</description>"]
    if guid is not None:
        parts.append(f'<guid isPermaLink="false">{guid}</guid>')
    if link is not None:
        parts.append(f"<link>{link}</link>")
    if announce is not None:
        parts.append(f"<arxiv:announce_type>{announce}</arxiv:announce_type>")
    parts.append("<category>cs.DC</category><dc:creator>A. Author, B. Author</dc:creator>")
    return "<item>" + "".join(parts) + extra + "</item>"


# --------------------------------------------------------------------------- listing feeds

OUR_DAY = [
    ("2602.02117", 1, AnnounceType.NEW),
    ("2602.02234", 1, AnnounceType.NEW),
    ("2602.01876", 1, AnnounceType.CROSS),
    ("2511.08421", 2, AnnounceType.REPLACE),
    ("2409.13355", 3, AnnounceType.REPLACE_CROSS),
]


def test_rss_listing() -> None:
    batch = parse_listing(own("rss-cs.DC+cs.OS.xml"))

    assert summary(batch) == OUR_DAY
    assert batch.listing_date == date(2026, 2, 3)  # pubDate 00:00 EST
    assert batch.built == datetime(2026, 2, 3, 5, 31, 47, tzinfo=UTC)

    first = batch.listings[0].paper
    assert first == Paper(
        id="2602.02117",
        version=1,
        title="Elastic Sharding for Serverless Stream Processing",
        authors=("Mei Lin", "Tomás Ferreira", "Priya Raghavan"),
        abstract=(
            "Serverless platforms promise elasticity, but stateful stream operators still pin "
            "their shards to long-lived workers. We present Tidepool, a sharding layer that "
            "migrates operator state between function instances in under 40 ms & keeps p99 "
            "latency < 120 ms while the input rate triples. On three production traces "
            "Tidepool cuts cost by 31% against a provisioned Flink cluster."
        ),
        categories=("cs.DC",),
        primary_category="cs.DC",
    )
    assert first.url == "https://arxiv.org/abs/2602.02117"

    both = batch.listings[1].paper  # a paper carrying both watched categories, listed once
    assert both.title == "Kernel-Bypass Scheduling for Multi-Tenant Accelerators"
    assert both.categories == ("cs.OS", "cs.DC", "cs.AR")
    assert both.primary_category == "cs.OS"
    assert both.abstract.startswith("Accelerators shared by several tenants are scheduled by")
    assert "$O(\\log n)$ queue operations suffice" in both.abstract
    assert "\n" not in both.abstract and "  " not in both.abstract

    cross = batch.listings[2].paper
    assert cross.primary_category == "cs.NI"
    assert cross.authors == ("Ravi Shankar", "Elena Petrova", "Chen Wei", "Samuel O. Adeyemi")

    replaced = batch.listings[3].paper
    assert replaced.doi == "10.5555/3712345.3712401"
    assert replaced.journal_ref == (
        "Proceedings of the 24th USENIX Conference on File and Storage Technologies (FAST 2026)"
    )
    assert replaced.published is None and replaced.comment is None  # not in listings

    assert batch.listings[4].paper.categories == ("cs.LG", "cs.DC", "cs.OS")
    assert [x.announce_type.is_candidate for x in batch.listings] == [1, 1, 1, 0, 0]


def test_atom_listing_is_the_same_day() -> None:
    atom = parse_listing(own("atom-cs.DC+cs.OS.xml"))
    rss_batch = parse_listing(own("rss-cs.DC+cs.OS.xml"))

    assert atom.listings == rss_batch.listings
    assert atom.listing_date == date(2026, 2, 3)  # entries' published, 00:00-05:00
    assert atom.built == datetime(2026, 2, 3, 5, 31, 47, tzinfo=UTC)  # to the second


def test_quiet_day_is_an_empty_batch() -> None:
    batch = parse_listing(own("rss-quiet-day.xml"))

    assert batch == FeedBatch(
        listings=(),
        listing_date=date(2026, 2, 7),
        built=datetime(2026, 2, 7, 5, 0, 9, tzinfo=UTC),
    )


def test_atom_quiet_day_has_no_listing_date() -> None:
    body = b"""<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns="http://www.w3.org/2005/Atom">
  <id>http://rss.arxiv.org/atom/cs.DC</id>
  <title>cs.DC updates on arXiv.org</title>
  <updated>2026-02-07T05:00:09.104000+00:00</updated>
</feed>"""
    batch = parse_listing(body)

    assert batch.listings == ()
    assert batch.listing_date is None
    assert batch.built == datetime(2026, 2, 7, 5, 0, 9, tzinfo=UTC)


def test_shared_real_rss_listing() -> None:
    batch = parse_listing(shared("rss2-listing-new-format-combined-categories.xml"))

    assert summary(batch) == [
        ("2609.26811", 1, AnnounceType.NEW),
        ("2609.26820", 1, AnnounceType.NEW),
        ("2205.06398", 2, AnnounceType.CROSS),
        ("2009.13987", 3, AnnounceType.REPLACE),
    ]
    assert batch.listing_date == date(2026, 9, 24)
    assert batch.built == datetime(2026, 9, 24, 8, 58, 5, tzinfo=UTC)
    signal, outlier, polytopes = (x.paper for x in batch.listings[1:])
    assert signal.title == (
        "Signal2Symbol: Neuro-Symbolic Temporal Reasoning for Explainable Physiological "
        "Time-Series Anomaly Detection"
    )
    assert signal.authors == ("Naser Mansour", "Sidahmed Benabderrahmane", "Ameer Rahwan")
    assert signal.categories == ("cs.LG", "cs.AI")
    assert signal.abstract.startswith("Physiological time series such as electrocardiograms")
    assert outlier.doi == "10.1093/bioinformatics/btac431"
    assert outlier.categories == ("stat.ME", "stat.AP", "stat.ML")
    assert outlier.primary_category == "stat.ME"
    assert polytopes.authors == ("Michael Joswig", "Marek Kaluba", "Lukas Ruff")
    assert polytopes.abstract.endswith("a tighter description of the data and faster computation.")
    assert batch.listings[0].paper.authors == ("Fabien Polly",)


def test_shared_real_atom_listing() -> None:
    batch = parse_listing(shared("atom-listing-new-format.xml"))

    assert summary(batch) == [
        ("2609.28553", 1, AnnounceType.NEW),
        ("2402.10149", 3, AnnounceType.CROSS),
        ("2401.08875", 3, AnnounceType.REPLACE),
    ]
    assert batch.listing_date == date(2026, 9, 25)
    assert batch.built == datetime(2026, 9, 25, 4, 0, 11, tzinfo=UTC)
    toxicity, particles, _ = (x.paper for x in batch.listings)
    assert toxicity.authors[0] == "Quang Minh Nguyen"
    assert len(toxicity.authors) == 6
    assert toxicity.journal_ref == (
        "2026 International Conference on Multimedia Analysis and Pattern Recognition (MAPR)"
    )
    assert toxicity.doi == "10.1109/MAPR72750.2026.11685822"
    assert toxicity.abstract == (
        "Drug toxicity prediction is critical for reducing late-stage attrition in drug "
        "discovery, yet remains challenging due to severe class imbalance, scaffold-based "
        "generalization, and the clinical need for interpretable predictions."
    )
    assert particles.categories == ("hep-ph", "cs.LG", "hep-ex")
    assert particles.primary_category == "hep-ph"


@pytest.mark.parametrize(
    ("pub_date", "expected"),
    [
        ("Tue, 03 Feb 2026 00:00:00 -0500", date(2026, 2, 3)),  # EST
        ("Mon, 09 Mar 2026 00:00:00 -0400", date(2026, 3, 9)),  # EDT, the day after the switch
        ("Tue, 03 Feb 2026 05:00:00 GMT", date(2026, 2, 3)),  # midnight Eastern, given in GMT
        ("Tue, 03 Feb 2026 03:00:00 GMT", date(2026, 2, 2)),  # still Monday in New York
    ],
)
def test_listing_date_is_a_us_eastern_date(pub_date: str, expected: date) -> None:
    assert parse_listing(rss(item(), pub_date=pub_date)).listing_date == expected


def test_abstract_text_keeps_maths_and_drops_the_prefix() -> None:
    description = (
        "arXiv:2602.02117v1 Announce Type: new \nAbstract: We show $a&lt;b$ and $c &gt; d$ "
        "for &lt;i&gt;all&lt;/i&gt; p &amp;amp; q;\n   Abstract: stays."
    )
    batch = parse_listing(rss(item(description=description, title="Bounds  for\n  $a&lt;b$")))

    paper = batch.listings[0].paper
    assert paper.abstract == "We show $a<b$ and $c > d$ for <i>all</i> p &amp; q; Abstract: stays."
    assert paper.title == "Bounds for $a<b$"


def test_id_and_type_fall_back_to_the_description_then_the_link() -> None:
    no_guid = item(guid=None, announce=None, link=None)  # description: 2602.02117v1, new
    link_only = item(
        guid=None,
        announce="replace",
        description="Abstract: Just an abstract.",
        link="https://arxiv.org/abs/2511.08421",
    )
    batch = parse_listing(rss(no_guid + link_only))

    assert summary(batch) == [
        ("2602.02117", 1, AnnounceType.NEW),
        ("2511.08421", 1, AnnounceType.REPLACE),  # no version anywhere: 1
    ]
    assert batch.listings[1].paper.abstract == "Just an abstract."


def test_bad_items_are_skipped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    good = item()
    no_id = item(
        guid="tag:example.org,2026:1", description="Something.", link="https://example.org/1"
    )
    odd_type = item(
        guid="oai:arXiv.org:2602.02234v1",
        description="arXiv:2602.02234v1 Announce Type: withdrawn \nAbstract: x",
        announce="withdrawn",
    )
    twice = item()
    caplog.set_level(logging.WARNING, logger="bot.arxiv.feeds")

    batch = parse_listing(rss(good + no_id + odd_type + twice))

    assert summary(batch) == [("2602.02117", 1, AnnounceType.NEW)]
    messages = [r.getMessage() for r in caplog.records]
    assert any("item 2 of 4 skipped: no arXiv id" in m for m in messages)
    assert any(
        "item 3 of 4 skipped: 2602.02234 has an unknown announce type" in m for m in messages
    )
    assert any("item 4 of 4 skipped: 2602.02117 is listed twice" in m for m in messages)


def test_encoding_note_is_not_an_error() -> None:
    # Declared UTF-8 but one Latin-1 byte: feedparser sets bozo (CharacterEncodingOverride),
    # the document is still complete and well-formed.
    body = rss(item(title="Caf\xe9 scheduling")).replace("Café".encode(), b"Caf\xe9")
    batch = parse_listing(body)
    assert summary(batch) == [("2602.02117", 1, AnnounceType.NEW)]
    assert batch.listings[0].paper.title == "Café scheduling"


def test_several_creators_and_a_prefix_other_than_arxiv() -> None:
    body = rss(item(extra="<dc:creator>C. Author</dc:creator>")).replace(
        b'xmlns:arxiv="http://arxiv.org/schemas/atom"', b'xmlns:ax="http://arxiv.org/schemas/atom"'
    )
    body = body.replace(b"arxiv:announce_type", b"ax:announce_type")
    paper = parse_listing(body).listings[0].paper
    assert paper.authors == ("A. Author", "B. Author", "C. Author")


TRUNCATED = "truncated"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"  \r\n\t ", "empty"),
        (b"Rate exceeded.", "not XML (it starts 'Rate exceeded.')"),
        (b'{"error": "rate limited"}', "not XML"),
        (b"<!DOCTYPE html>\n<html><body><h1>503 Service Unavailable</h1></body></html>", "HTML"),
        (b"<html><head><title>Error</title></head></html>", "HTML"),
        (b"<?xml version='1.0'?><error>busy</error>", "not an RSS 2.0 or Atom 1.0"),
        (
            b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-'
            b'ns#" xmlns="http://purl.org/rss/1.0/"><channel><title>x</title></channel>'
            b"<item><title>y</title><link>https://arxiv.org/abs/2602.02117</link></item>"
            b"</rdf:RDF>",
            "RSS 1.0 (RDF)",
        ),
        (b"<?xml version='1.0'?><rss version='2.0'></rss>", "has no channel"),
        (
            b"<?xml version='1.0'?><rss version='2.0'><channel><title>Blog</title><item>"
            b"<title>Hello</title><guid>https://example.org/p/1</guid></item></channel></rss>",
            "None of the 1 feed items has an arXiv id",
        ),
        (b"/etc/passwd", "not XML"),  # bytes are data, never a file name to open
        (b"<rss version='2.0'><channel><title>&nbsp;</title></channel></rss>", "undefined entity"),
    ],
)
def test_unusable_feeds_raise_feed_error(body: bytes, message: str) -> None:
    with pytest.raises(FeedError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_listing(body)


def test_body_is_never_taken_for_a_file_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # feedparser.parse(bytes) opens the bytes as a path when such a file exists; the parser
    # hands it a stream, so a body that happens to name a file is still just a (bad) body.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "<rss>").write_bytes(own("rss-cs.DC+cs.OS.xml"))
    with pytest.raises(FeedError, match=TRUNCATED):
        parse_listing(b"<rss>")


@pytest.mark.parametrize("name", ["rss-cs.DC+cs.OS.xml", "atom-cs.DC+cs.OS.xml"])
def test_truncated_feed_is_an_error_never_a_partial_batch(name: str) -> None:
    body = own(name)
    end = len(body.rstrip())
    closer = b"</item>" if b"</item>" in body else b"</entry>"
    after_first = body.index(closer) + len(closer)  # one whole item: a tempting partial batch
    after_last = body.rindex(closer) + len(closer)  # every item, but the channel not closed
    cuts = [*range(1, end, 53), end - 1, end - 3, after_first, after_last]
    for cut in cuts:
        with pytest.raises(FeedError, match=TRUNCATED):
            parse_listing(body[:cut])
    assert parse_listing(body[:end]).listings  # only trailing whitespace gone: still whole


def test_truncated_shared_feed() -> None:
    body = shared("rss2-listing-new-format-combined-categories.xml")
    with pytest.raises(FeedError, match=TRUNCATED):
        parse_listing(body[: len(body) // 2])


@settings(max_examples=examples(300), deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_give_a_batch_or_feed_error(body: bytes) -> None:
    with contextlib.suppress(FeedError):
        parse_listing(body)


def damaged(data: st.DataObject, original: bytes) -> bytes:
    """A real feed with up to four random spans overwritten by random bytes."""
    body = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(body) - 1))
        body[at : at + data.draw(st.integers(0, 8))] = data.draw(st.binary(max_size=8))
    return bytes(body)


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_damaged_listing_gives_a_batch_or_feed_error(data: st.DataObject) -> None:
    try:
        batch = parse_listing(damaged(data, own("rss-cs.DC+cs.OS.xml")))
    except FeedError:
        return
    assert isinstance(batch, FeedBatch)


# --------------------------------------------------------------------------- API pages


def test_api_page() -> None:
    page = parse_api_page(own("api-page.xml"))

    assert (page.total_results, page.start_index, page.items_per_page) == (27, 4, 4)
    assert [(p.id, p.version) for p in page.papers] == [
        ("2602.02117", 1),
        ("2511.08421", 2),
        ("2409.13355", 3),
        ("cs/0112017", 1),
    ]
    sharding, snapshots, pipeline, queue = page.papers
    assert sharding.authors == ("Mei Lin", "Tomás Ferreira", "Priya Raghavan")
    assert sharding.abstract == (
        "Serverless platforms promise elasticity, but stateful stream operators still pin "
        "their shards to long-lived workers. We present Tidepool, a sharding layer that "
        "migrates operator state between function instances in under 40 ms & keeps p99 "
        "latency < 120 ms while the input rate triples."
    )
    assert sharding.comment == "12 pages, 9 figures"
    assert sharding.doi is None and sharding.journal_ref is None
    assert sharding.published == sharding.updated == datetime(2026, 2, 2, 16, 41, 9, tzinfo=UTC)

    assert snapshots.title == "Consistent Snapshots of Persistent-Memory File Systems"
    assert snapshots.published == datetime(2025, 11, 11, 9, 12, 44, tzinfo=UTC)
    assert snapshots.updated == datetime(2026, 2, 2, 18, 3, 51, tzinfo=UTC)
    assert snapshots.doi == "10.5555/3712345.3712401"
    assert snapshots.journal_ref == "Proceedings of FAST 2026, pp. 211-226"
    assert snapshots.comment == "Camera-ready; 14 pages"
    assert snapshots.categories == ("cs.OS", "cs.DC")

    # primary first, then the other terms in order, no duplicates
    assert pipeline.categories == ("cs.LG", "cs.DC", "cs.OS")
    assert pipeline.primary_category == "cs.LG"

    assert queue.url == "https://arxiv.org/abs/cs/0112017"
    assert queue.authors == ("Karl Lindqvist",)
    assert queue.published == datetime(2001, 12, 14, 21, 37, 11, tzinfo=UTC)


def test_api_error_page_carries_arxivs_message() -> None:
    with pytest.raises(FeedError, match=r"^arXiv API error: incorrect id format for 2602\.0211"):
        parse_api_page(own("api-error.xml"))


def test_shared_real_api_page() -> None:
    page = parse_api_page(shared("api-atom-legacy-2016-multi-entry.xml"))

    assert (page.total_results, page.start_index, page.items_per_page) == (31, 0, 10)
    assert [(p.id, p.version) for p in page.papers] == [
        ("1201.4869", 1),
        ("cond-mat/0412498", 1),
        ("cond-mat/0603029", 1),
        ("1005.5383", 1),
        ("1303.6954", 2),
        ("1312.6177", 1),
        ("1412.6529", 2),
        ("cond-mat/0607501", 2),
        ("cond-mat/0702661", 2),
        ("0807.2873", 1),
    ]
    melting = page.papers[1]
    assert melting.title == "Thermal melting of density waves on the square lattice"
    assert melting.authors == ("Adrian Del Maestro", "Subir Sachdev")
    assert melting.categories == ("cond-mat.str-el", "cond-mat.stat-mech")
    assert melting.doi == "10.1103/PhysRevB.71.184511"
    assert melting.journal_ref == "Physical Review B 71, 184511 (2005)"
    assert melting.comment == "12 pages, 5 figures"
    assert "(p >= 3, integer)" in melting.abstract
    assert melting.abstract.startswith("We present the theory of the effect of thermal")

    revised = page.papers[4]
    assert revised.published == datetime(2013, 3, 27, 20, 0, 4, tzinfo=UTC)
    assert revised.updated == datetime(2013, 9, 3, 1, 6, 36, tzinfo=UTC)
    assert page.papers[6].comment == (
        "10 pages, 8 figures; updated figure 5, added references, revised text, reformatted"
    )
    assert page.papers[0].primary_category == "cond-mat.mes-hall"


def test_shared_real_id_list_answer() -> None:
    page = parse_api_page(shared_json_body("api-2026-id_list-versioned.json"))

    assert (page.total_results, page.start_index, page.items_per_page) == (1, 0, 100)
    (paper,) = page.papers
    assert (paper.id, paper.version, paper.title) == ("2104.12255", 1, "0")
    assert paper.authors == ("Quan Thoi Minh Nguyen",)
    assert paper.categories == ("cs.CR",)
    assert paper.published == datetime(2021, 4, 20, 16, 7, 14, tzinfo=UTC)
    assert paper.abstract.startswith("What is the funniest number in cryptography? 0.")


def test_shared_real_error_answer() -> None:
    body = shared_json_body("api-2026-error-malformed-id-http400.json")
    with pytest.raises(FeedError, match=r"^arXiv API error: incorrect id format for abc"):
        parse_api_page(body)


def api_feed(entries: str, *, total: int = 1) -> bytes:
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"
      xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns="http://www.w3.org/2005/Atom">
  <id>https://arxiv.org/api/x</id>
  <title>arXiv Query</title>
  <opensearch:itemsPerPage>100</opensearch:itemsPerPage>
  <opensearch:totalResults>{total}</opensearch:totalResults>
  <opensearch:startIndex>0</opensearch:startIndex>
  {entries}
</feed>""".encode()


def test_unknown_id_is_an_empty_page() -> None:
    page = parse_api_page(api_feed("", total=0))
    assert page == ApiPage(papers=(), total_results=0, start_index=0, items_per_page=100)


def test_paper_titled_error_is_a_paper(caplog: pytest.LogCaptureFixture) -> None:
    entries = (
        "<entry><id>http://arxiv.org/abs/2602.03001v1</id><title>Error</title>"
        "<summary>On errors.</summary></entry>"
        "<entry><id>urn:something-else</id><title>Odd</title></entry>"
    )
    caplog.set_level(logging.WARNING, logger="bot.arxiv.api")
    page = parse_api_page(api_feed(entries, total=2))

    assert [(p.id, p.title, p.abstract) for p in page.papers] == [
        ("2602.03001", "Error", "On errors.")
    ]
    assert page.papers[0].published is None
    assert any("entry 2 of 2 skipped" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"\n\n", "empty"),
        (b"Rate exceeded.", "not XML"),
        (b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", "HTML page"),
        (b"<?xml version='1.0'?><rss version='2.0'><channel/></rss>", "not an Atom feed"),
        (b"<feed xmlns='http://www.w3.org/2005/Atom'><entry>", "truncated"),
        (b"<a/><b/>", "not well-formed"),
    ],
)
def test_unusable_api_bodies_raise_feed_error(body: bytes, message: str) -> None:
    with pytest.raises(FeedError, match=message):
        parse_api_page(body)


def test_truncated_api_page_is_an_error() -> None:
    body = own("api-page.xml")
    end = len(body.rstrip())
    for cut in [*range(1, end, 41), end - 1]:
        with pytest.raises(FeedError, match="truncated"):
            parse_api_page(body[:cut])


def test_entities_are_not_expanded() -> None:
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    body = f"""<?xml version="1.0"?>
<!DOCTYPE feed [<!ENTITY l0 "lol">{laughs}<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>http://arxiv.org/abs/2602.02117v1</id>
<title>A &l9; B &xxe; C</title></entry></feed>""".encode()
    try:
        page = parse_api_page(body)
    except FeedError:
        pass
    else:
        assert "lollol" not in page.papers[0].title and "root:" not in page.papers[0].title


def test_a_full_2000_entry_page_parses() -> None:
    """Speed is measured by bench/ingest.py, never asserted here."""
    entry = own("api-page.xml").split(b"<entry>")[2].split(b"</entry>")[0]
    head = own("api-page.xml").split(b"<entry>")[0]
    body = head + b"".join(b"<entry>" + entry + b"</entry>\n" for _ in range(2000)) + b"</feed>"
    page = parse_api_page(body)
    assert len(page.papers) == 2000
    assert {p.id for p in page.papers} == {page.papers[0].id}


@settings(max_examples=examples(300), deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_give_a_page_or_feed_error(body: bytes) -> None:
    with contextlib.suppress(FeedError):
        parse_api_page(body)


@settings(max_examples=examples(150), deadline=None)
@given(st.data())
def test_damaged_api_page_gives_a_page_or_feed_error(data: st.DataObject) -> None:
    try:
        page = parse_api_page(damaged(data, own("api-page.xml")))
    except FeedError:
        return
    assert isinstance(page, ApiPage)


# --------------------------------------------------------------------------- query URLs


def test_category_query() -> None:
    since = datetime(2026, 2, 2, 19, 0, tzinfo=NEW_YORK)  # 00:00 GMT on the 3rd
    until = datetime(2026, 2, 3, 14, 0, 59, tzinfo=NEW_YORK)
    assert category_query(["cs.DC", "cs.OS"], since, until) == (
        "(cat:cs.DC OR cat:cs.OS) AND submittedDate:[202602030000 TO 202602031900]"
    )
    assert category_query(("cs.DC", "cs.DC"), since, until) == (
        "cat:cs.DC AND submittedDate:[202602030000 TO 202602031900]"
    )
    assert category_query(["hep-th", "physics.acc-ph", "cond-mat.str-el"], since, since) == (
        "(cat:hep-th OR cat:physics.acc-ph OR cat:cond-mat.str-el) "
        "AND submittedDate:[202602030000 TO 202602030000]"
    )


@pytest.mark.parametrize(
    ("categories", "since", "until", "message"),
    [
        ([], datetime(2026, 2, 2, tzinfo=UTC), datetime(2026, 2, 3, tzinfo=UTC), "at least one"),
        (
            ["cs.DC OR all:x"],
            datetime(2026, 2, 2, tzinfo=UTC),
            datetime(2026, 2, 3, tzinfo=UTC),
            "not an arXiv category",
        ),
        ("cs.DC", datetime(2026, 2, 2, tzinfo=UTC), datetime(2026, 2, 3, tzinfo=UTC), "one string"),
        (["cs.DC"], datetime(2026, 2, 2), datetime(2026, 2, 3, tzinfo=UTC), "timezone-aware"),
        (["cs.DC"], datetime(2026, 2, 3, tzinfo=UTC), datetime(2026, 2, 2, tzinfo=UTC), "after"),
    ],
)
def test_category_query_refuses(
    categories: list[str], since: datetime, until: datetime, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        category_query(categories, since, until)


def test_build_query_url() -> None:
    query = "(cat:cs.DC OR cat:cs.OS) AND submittedDate:[202602030000 TO 202602031900]"
    url = build_query_url(API, search_query=query, start=200, max_results=200)

    assert url == (
        "https://export.arxiv.org/api/query?search_query=%28cat:cs.DC+OR+cat:cs.OS%29+AND+"
        "submittedDate:%5B202602030000+TO+202602031900%5D&start=200&max_results=200"
        "&sortBy=submittedDate&sortOrder=descending"
    )
    assert parse_qs(urlsplit(url).query)["search_query"] == [query]


def test_build_query_url_with_ids() -> None:
    url = build_query_url(
        API,
        id_list=["arXiv:2104.12255v1", "https://arxiv.org/abs/cs/0112017", "math.GT/0309136v2"],
        sort_by="relevance",
    )
    assert url == (
        "https://export.arxiv.org/api/query?id_list=2104.12255v1,cs/0112017,math/0309136v2"
        "&start=0&max_results=100&sortBy=relevance&sortOrder=descending"
    )
    assert build_query_url(f"{API}?x=1", id_list=["2104.12255"]).startswith(
        f"{API}?x=1&id_list=2104.12255&"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs a search_query, an id_list or both"),
        ({"search_query": "cat:cs.DC", "start": -1}, "start must be 0 or more"),
        ({"search_query": "cat:cs.DC", "max_results": 0}, "max_results must be 1 to 2000"),
        ({"search_query": "cat:cs.DC", "max_results": 2001}, "max_results must be 1 to 2000"),
        ({"search_query": "cat:cs.DC", "start": 29000, "max_results": 2000}, "at most 30000"),
        ({"search_query": "cat:cs.DC", "sort_by": "date"}, "sort_by must be one of"),
        ({"search_query": "cat:cs.DC", "sort_order": "up"}, "sort_order must be one of"),
        ({"id_list": ["2104.1225"]}, "is not an arXiv id"),
        ({"id_list": "2104.12255"}, "not one string"),
    ],
)
def test_build_query_url_refuses(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_query_url(API, **kwargs)  # type: ignore[arg-type]
