"""The markdown list: parsing, byte-exact merges, the real list's next-day update, properties."""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.arxiv.ids import parse_arxiv_id
from bot.errors import ListFormatError
from bot.paperlist import (
    WARNING,
    ListedEntry,
    NewEntry,
    base_id,
    entry_line,
    escape_title,
    find_duplicates,
    ids_in,
    iter_entries,
    merge,
    normalize_title,
    parse,
    parse_ref,
    unescape_title,
)
from tests.conftest import examples

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "lists"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
REAL_LIST = SHARED / "lists" / "daily-arxiv-llm.2025-03-17.md"
OWN_LISTS = sorted(FIXTURES.glob("*.md"))

NEXT_DAY = [
    NewEntry(
        "2503.12228",
        "Adaptive Fault Tolerance Mechanisms of Large Language Models in Cloud Computing "
        "Environments",
        dt.date(2025, 3, 18),
    ),
    NewEntry(
        "2503.12185",
        "FAILS: A Framework for Automated Collection and Analysis of LLM Service Incidents",
        dt.date(2025, 3, 18),
    ),
]
NEXT_DAY_BLOCK = """### 2025-03-18

* [Adaptive Fault Tolerance Mechanisms of Large Language Models in Cloud Computing Environments](https://arxiv.org/abs/2503.12228)
* [FAILS: A Framework for Automated Collection and Analysis of LLM Service Incidents](https://arxiv.org/abs/2503.12185)


"""


def read(path: Path) -> str:
    """Exact text: no newline translation (Path.read_text would turn CRLF into LF)."""
    return path.read_bytes().decode("utf-8")


def real_list() -> str:
    if not REAL_LIST.is_file():
        pytest.skip(f"{SHARED} is absent: the shared reference list is not available here")
    return read(REAL_LIST)


def extras(older: str, newer: str) -> list[NewEntry]:
    """The entries of ``newer`` that ``older`` lacks, in file order, as merge input."""
    have = set(ids_in(older))
    return [
        NewEntry(e.id, e.title, e.date)
        for e in iter_entries(newer)
        if e.id not in have and e.date is not None
    ]


def d(iso: str) -> dt.date:
    return dt.date.fromisoformat(iso)


# --- ids --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "base", "version"),
    [
        ("https://arxiv.org/abs/2503.12228", "2503.12228", None),
        ("http://arxiv.org/abs/2510.01234v1", "2510.01234", 1),
        ("https://arxiv.org/pdf/2503.12228", "2503.12228", None),
        ("https://arxiv.org/pdf/2503.12228v3", "2503.12228", 3),
        ("https://arxiv.org/pdf/2503.12228v3.pdf", "2503.12228", 3),
        ("https://arxiv.org/pdf/2503.12228.pdf", "2503.12228", None),
        ("https://export.arxiv.org/abs/2503.12228", "2503.12228", None),
        ("arXiv:2503.12228v2", "2503.12228", 2),
        ("oai:arXiv.org:2503.12228v2", "2503.12228", 2),
        ("1412.1234", "1412.1234", None),
        ("cs/0112017", "cs/0112017", None),
        ("https://arxiv.org/abs/cs/0112017", "cs/0112017", None),
        ("math.GT/0309136", "math/0309136", None),
        ("http://arxiv.org/abs/math.GT/0309136v2", "math/0309136", 2),
        ("cond-mat/0412498v1", "cond-mat/0412498", 1),
        ("http://arxiv.org/pdf/cond-mat/0412498v1.pdf", "cond-mat/0412498", 1),
    ],
)
def test_parse_ref_reads_every_link_form(ref: str, base: str, version: int | None) -> None:
    assert parse_ref(ref) == (base, version)
    assert base_id(ref) == base


@pytest.mark.parametrize(
    "ref",
    ["", "abc", "2503.123", "2503.1234567", "https://example.com/abs/2503.12228", "cs/012"],
)
def test_parse_ref_rejects_what_is_not_an_arxiv_reference(ref: str) -> None:
    assert parse_ref(ref) is None
    with pytest.raises(ValueError, match="is not an arXiv id"):
        base_id(ref)


# One answer to "is this an id": bot.arxiv.ids, the list's parse_ref and the list scan (whose
# fast path reads the common link forms with its own regex) agree on every input.
ONE_ANSWER = [
    ("foo/0309136", None),  # not an archive
    ("0703.1234", None),  # before the new scheme began (0704)
    ("2513.12228", None),  # month 13
    ("2503.12228", ("2503.12228", None)),
    ("https://arxiv.org/abs/2503.12228v2", ("2503.12228", 2)),
    ("http://arxiv.org/abs/2603.27914v1", ("2603.27914", 1)),
    ("arxiv.org/pdf/2503.12228", ("2503.12228", None)),
    ("arXiv:2503.12228", ("2503.12228", None)),
    ("cs/0309136", ("cs/0309136", None)),
    ("https://arxiv.org/abs/2513.12228", None),
    ("http://arxiv.org/pdf/0703.1234v1.pdf", None),
    ("https://arxiv.org/abs/foo/0309136", None),
]


def list_links(ref: str) -> list[str]:
    """Link targets a list line may carry for ``ref``: itself, or the usual pages of a lone id."""
    if re.fullmatch(r"[\w.-]+/[0-9]+|[0-9.]+", ref):
        return [f"https://arxiv.org/abs/{ref}", f"http://arxiv.org/pdf/{ref}v1.pdf"]
    return [ref, f"<{ref}>"]


@pytest.mark.parametrize(("ref", "expected"), ONE_ANSWER)
def test_one_answer_to_is_this_an_id(ref: str, expected: tuple[str, int | None] | None) -> None:
    assert parse_arxiv_id(ref) == expected
    assert parse_ref(ref) == expected
    if expected is None:
        with pytest.raises(ListFormatError):
            entry_line(ref, "T")
    else:
        assert base_id(ref) == expected[0]
    for link in list_links(ref):
        line = f"* [A title]({link})\n"
        assert ids_in(line) == ([expected[0]] if expected else []), link
        entries = parse(line).entries
        assert [e.id for e in entries] == ids_in(line)


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_lists_with_bogus_ids_round_trip_and_keep_those_lines(eol: str) -> None:
    lines = [WARNING, "", "### 2025-03-18", ""]
    lines += [f"* [Bogus {ref}]({link})" for ref, _ in ONE_ANSWER for link in list_links(ref)]
    lines += ["* [Real](https://arxiv.org/abs/2503.00001)", "", ""]
    text = eol.join(lines)
    doc = parse(text)
    assert doc.text == text
    assert merge(text, [], []) == text
    out = merge(text, [NewEntry("2503.00002", "New", d("2025-03-18"))], ["2503.00001"])
    bogus = [line for line in lines if line.startswith("* [Bogus") and not parse(line).entries]
    assert bogus, "some lines must be unmanaged text"
    for line in bogus:
        assert line + eol in out  # kept byte for byte, as unmanaged text
    assert "2503.00001" not in out
    assert f"* [New](https://arxiv.org/abs/2503.00002){eol}" in out


def test_links_must_be_links_but_ids_may_be_bare() -> None:
    assert parse_ref("2503.12228", bare=False) is None
    assert parse_ref("https://arxiv.org/abs/2503.12228", bare=False) == ("2503.12228", None)
    assert ids_in("* [Relative link](2503.12228)\n") == []


# --- titles -----------------------------------------------------------------------------------


def test_entry_line_is_the_list_format() -> None:
    line = entry_line("http://arxiv.org/abs/2503.12228v2", "  A  [bracketed]\n title \\o/ ")
    assert line == r"* [A \[bracketed\] title \\o/](https://arxiv.org/abs/2503.12228)"
    assert parse(line).entries[0].title == "A [bracketed] title \\o/"
    assert normalize_title("  A  [bracketed]\n title \\o/ ") == "A [bracketed] title \\o/"


def test_entry_line_refuses_a_bad_id() -> None:
    with pytest.raises(ListFormatError, match="not an arXiv id"):
        entry_line("not-an-id", "Title")


@pytest.mark.parametrize(
    "title",
    [
        "<script>alert(1)</script>",
        "See <https://evil.example/x> now",
        "<mailto:a@evil.example> and <a@evil.example>",
        '<img src=x onerror="alert(1)">',
        "&lt;script&gt; &amp; &#60;b&#62;",
        "<!-- a comment --> <![CDATA[x]]>",
    ],
)
def test_titles_are_inert_markdown(title: str) -> None:
    line = entry_line("2503.12228", title)
    text = line[len("* [") : line.index("](https://arxiv.org/abs/2503.12228)")]
    # no <, > or & without a backslash: no raw HTML, no autolink, no entity can be rendered,
    # and the title still reads as itself (a backslash before punctuation is hidden)
    assert re.search(r"(?<!\\)(?:\\\\)*[<>&]", text) is None
    assert re.sub(r"\\(.)", r"\1", text) == title
    assert parse(line + "\n").entries[0].title == title
    assert ids_in(line) == ["2503.12228"]


def test_escape_title_is_the_bracket_rule_for_html_characters() -> None:
    assert escape_title("a <b> & [c] \\") == r"a \<b\> \& \[c\] \\"
    assert unescape_title(escape_title("x \\<y> &")) == "x \\<y> &"


def test_unescape_leaves_other_backslashes_alone() -> None:
    assert unescape_title(r"a \_ b \\ c \[d\]") == r"a \_ b \ c [d]"


# --- parsing ----------------------------------------------------------------------------------


def test_parse_reads_the_irregular_fixture() -> None:
    text = read(FIXTURES / "irregular.md")
    doc = parse(text)
    assert doc.text == text
    assert doc.header.endswith(f"{WARNING}\n\n")
    assert doc.header.startswith('<p align="center">')
    assert [s.date for s in doc.sections] == [
        d("2025-10-03"),
        d("2025-10-02"),
        d("2025-10-01"),
        d("2025-09-30"),
        None,
        d("2025-09-29"),
    ]
    assert [len(s.entries) for s in doc.sections] == [3, 0, 4, 4, 0, 1]

    header_entry, tagged, escaped, unicode_title = doc.entries[:4]
    assert (header_entry.id, header_entry.date) == ("2401.00002", None)
    assert tagged.id == "2510.01234"
    assert tagged.version == 1
    assert tagged.tags == ("serving", "MoE")
    assert tagged.tldr == "Shards experts across nodes and cuts tail latency by a third."
    assert tagged.notes == (
        "  > **TL;DR**: Shards experts across nodes and cuts tail latency by a third.\n",
    )
    assert escaped.title == "Ingest Bubbles, Revisited: [Short Paper]"
    assert escaped.tags == ("training",)
    assert unicode_title.title == "Speculative Decoding für alle: 多语言推理 🚀 λ-Serve"
    assert unicode_title.tldr is None

    by_id = {e.id: e for e in doc.entries}
    assert by_id["math/0309136"].title == "Old-style id: Knot Theory"
    assert by_id["cond-mat/0412498"].version == 1
    assert by_id["cs/0112017"].date == d("2025-09-30")
    assert by_id["2509.30001"].title == "A backslash \\ and [unescaped] brackets"
    assert by_id["2510.00111"].version == 2
    assert "example.com" not in "".join(e.text for e in doc.entries)


def test_entry_and_section_lines_point_at_the_text() -> None:
    text = read(FIXTURES / "irregular.md")
    doc = parse(text)
    for entry in doc.entries:
        assert doc.lines[entry.line - 1] == entry.text
        for offset, note in enumerate(entry.notes, start=1):
            assert doc.lines[entry.line - 1 + offset] == note
    for section in doc.sections:
        assert doc.lines[section.line - 1] == section.heading
        assert section.line <= section.last_line
    assert doc.sections[-1].last_line == len(doc.lines)
    assert doc.sections[0].line == doc.header_lines + 1


def test_iter_entries_gives_what_an_import_needs() -> None:
    text = read(FIXTURES / "older.md")
    assert list(iter_entries(text)) == [
        ListedEntry("2510.00011", "Paged Attention for Everyone", d("2025-10-01"), 5),
        ListedEntry("2510.00012", "Straggler-Aware Collective Communication", d("2025-10-01"), 7),
        ListedEntry("2509.30011", "Checkpointing Without Stalls", d("2025-09-30"), 9),
        ListedEntry("2509.30011", "Checkpointing Without Stalls", d("2025-09-30"), 10),
        ListedEntry("2509.26011", "Ünïcödé Tïtlé: Schedulers for 🚀 Clusters", d("2025-09-26"), 18),
    ]
    assert list(iter_entries(parse(text))) == list(iter_entries(text))


def test_duplicates_are_found_with_their_lines() -> None:
    dupes = find_duplicates(read(FIXTURES / "irregular.md"))
    assert list(dupes) == ["2510.00111", "2510.00222"]
    assert [e.line for e in dupes["2510.00111"]] == [26, 27]
    assert [e.text for e in dupes["2510.00222"]] == [
        "* [Duplicate Under Another Form](https://arxiv.org/abs/2510.00222)\n",
        "* [Duplicate Under Another Form](http://arxiv.org/abs/2510.00222v3)\n",
    ]
    assert ids_in(read(FIXTURES / "irregular.md")).count("2510.00222") == 2


def test_notes_belong_only_to_the_entry_right_above() -> None:
    text = (
        "### 2025-01-02\n"
        "* [A](https://arxiv.org/abs/2501.00001)\n"
        "  > **TL;DR**: attached\n"
        "  > a second quote line, attached too\n"
        "\n"
        "  > **TL;DR**: after a blank line: opaque\n"
        "* [Not arXiv](https://example.com)\n"
        "  > **TL;DR**: after an opaque line: opaque\n"
    )
    (entry,) = parse(text).entries
    assert entry.tldr == "attached"
    assert len(entry.notes) == 2
    assert merge(text, [], ["2501.00001"]) == (
        "### 2025-01-02\n\n"
        "  > **TL;DR**: after a blank line: opaque\n"
        "* [Not arXiv](https://example.com)\n"
        "  > **TL;DR**: after an opaque line: opaque\n"
    )


def test_headings_that_are_not_dates_open_undated_sections() -> None:
    doc = parse("### 2025-02-30\n### not a date\n###2025-01-01\n#### 2025-01-01\n")
    assert [(s.heading, s.date) for s in doc.sections] == [
        ("### 2025-02-30\n", None),
        ("### not a date\n", None),
    ]


# --- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", OWN_LISTS, ids=lambda p: p.name)
@pytest.mark.parametrize("crlf", [False, True], ids=["as-is", "crlf"])
def test_own_lists_round_trip_byte_for_byte(path: Path, crlf: bool) -> None:
    text = read(path)
    if crlf:
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    assert parse(text).text == text
    assert merge(text, [], []) == text
    present = [
        NewEntry(e.id, "Another title", e.date or d("2025-10-03")) for e in parse(text).entries
    ]
    assert merge(text, present, []) == text


def test_the_shared_list_round_trips_byte_for_byte() -> None:
    text = real_list()
    doc = parse(text)
    assert doc.text == text
    assert merge(text, [], []) == text
    assert merge(text, [NewEntry(e.id, e.title, d("2025-03-18")) for e in doc.entries], []) == text
    assert doc.header == f"{WARNING}\n\n"
    assert len(doc.entries) == len(set(doc.ids())) == 103
    assert len(doc.sections) == 43
    assert all(s.date is not None for s in doc.sections)
    assert any(e.title.startswith("λScale") for e in doc.entries)


# --- merging: the real list -------------------------------------------------------------------


def test_the_real_next_day_update() -> None:
    text = real_list()
    top = f"{WARNING}\n\n"
    assert merge(text, NEXT_DAY, []) == top + NEXT_DAY_BLOCK + text[len(top) :]


@pytest.mark.parametrize("peeled", range(1, 9))
def test_the_real_list_grows_back_from_an_older_one(peeled: int) -> None:
    """Take the top sections off the shared list: merging their entries back rebuilds it."""
    text = real_list()
    doc = parse(text)
    keep_from = doc.sections[peeled].line - 1
    older = "".join(doc.lines[: doc.header_lines] + doc.lines[keep_from:])
    assert merge(older, extras(older, text), []) == text

    # The same, one day at a time, oldest first, as the bot would do it.
    grown = older
    for section in reversed(doc.sections[:peeled]):
        assert section.date is not None
        grown = merge(grown, [NewEntry(e.id, e.title, section.date) for e in section.entries], [])
    assert grown == text


def test_removing_a_paper_from_the_real_list_touches_only_its_line() -> None:
    text = real_list()
    doc = parse(text)
    victim = doc.sections[3].entries[1]
    out = merge(text, [], [f"http://arxiv.org/abs/{victim.id}v7"])
    assert out == "".join(line for line in doc.lines if line != victim.text)


# --- merging: own fixtures --------------------------------------------------------------------


def test_an_older_list_grows_into_the_newer_one() -> None:
    older, newer = read(FIXTURES / "older.md"), read(FIXTURES / "newer.md")
    assert merge(older, extras(older, newer), []) == newer
    assert merge(newer, extras(older, newer), []) == newer


def test_the_same_pair_with_crlf_line_endings() -> None:
    older = read(FIXTURES / "older.md").replace("\n", "\r\n")
    newer = read(FIXTURES / "newer.md").replace("\n", "\r\n")
    assert merge(older, extras(older, newer), []) == newer


def test_crlf_files_get_crlf_lines() -> None:
    text = read(FIXTURES / "crlf-no-final-newline.md")
    out = merge(
        text,
        [
            NewEntry("2510.03001", "New Section On Top", d("2025-10-03")),
            NewEntry("2510.02003", "Into The Tagged Section", d("2025-10-02")),
            NewEntry("2510.01002", "After The Unterminated Line", d("2025-10-01")),
        ],
        [],
    )
    assert out.count("\n") == out.count("\r\n")
    assert out == (
        f"{WARNING}\r\n\r\n"
        "### 2025-10-03\r\n\r\n"
        "* [New Section On Top](https://arxiv.org/abs/2510.03001)\r\n\r\n\r\n"
        "### 2025-10-02\r\n\r\n"
        "* `kv-cache` [Windows Line Endings, Survived](https://arxiv.org/abs/2510.02001)\r\n"
        "  > **TL;DR**: CRLF in, CRLF out.\r\n"
        "* [Zweiter Eintrag – mit Umlauten](https://arxiv.org/abs/2510.02002)\r\n"
        "* [Into The Tagged Section](https://arxiv.org/abs/2510.02003)\r\n\r\n\r\n"
        "### 2025-10-01\r\n"
        "* [No Final Line Break](https://arxiv.org/abs/2510.01001)\r\n"
        "* [After The Unterminated Line](https://arxiv.org/abs/2510.01002)\r\n"
    )


def test_irregular_list_takes_papers_everywhere() -> None:
    text = read(FIXTURES / "irregular.md")
    out = merge(
        text,
        [
            NewEntry("2510.04001", "Newest", d("2025-10-04")),
            NewEntry("2510.00778", "After the last entry and its TL;DR", d("2025-10-03")),
            NewEntry("2510.02001", "Into the empty section", d("2025-10-02")),
            NewEntry(
                "2510.00333", "After the duplicates, before the glued heading", d("2025-10-01")
            ),
            NewEntry("2509.30002", "Between the glued sections", d("2025-09-30")),
            NewEntry("2509.29002", "At the very end", d("2025-09-29")),
            NewEntry("2509.01001", "A new last section", d("2025-09-01")),
            NewEntry("arXiv:2510.01234v9", "Already listed with tags", d("2025-10-04")),
            NewEntry("https://arxiv.org/abs/math.AG/0309136", "Already listed", d("2025-10-04")),
        ],
        [],
    )
    lines = text.split("\n")
    i = lines.index
    expected = [
        *lines[: i("### 2025-10-03")],
        "### 2025-10-04",
        "",
        "* [Newest](https://arxiv.org/abs/2510.04001)",
        "",
        "",
        *lines[i("### 2025-10-03") : i("### 2025-10-02") - 2],
        "* [After the last entry and its TL;DR](https://arxiv.org/abs/2510.00778)",
        "",
        "",
        "### 2025-10-02",
        "",
        "* [Into the empty section](https://arxiv.org/abs/2510.02001)",
        *lines[i("### 2025-10-02") + 2 : i("### 2025-09-30")],
        "* [After the duplicates, before the glued heading](https://arxiv.org/abs/2510.00333)",
        *lines[i("### 2025-09-30") : i("### Notes kept by hand") - 1],
        "* [Between the glued sections](https://arxiv.org/abs/2509.30002)",
        *lines[i("### Notes kept by hand") - 1 : -1],
        "* [At the very end](https://arxiv.org/abs/2509.29002)",
        "",
        "",
        "### 2025-09-01",
        "",
        "* [A new last section](https://arxiv.org/abs/2509.01001)",
        "",
        "",
        "",
    ]
    assert out.split("\n") == expected


def test_removal_takes_every_line_of_the_id_and_nothing_else() -> None:
    text = read(FIXTURES / "irregular.md")
    out = merge(text, [], ["2510.00222", "https://arxiv.org/abs/2510.01234", "math.GT/0309136"])
    gone = {
        "* [Duplicate Under Another Form](https://arxiv.org/abs/2510.00222)\n",
        "* [Duplicate Under Another Form](http://arxiv.org/abs/2510.00222v3)\n",
        "* `serving` `MoE` [Expert-Parallel Serving at Scale](http://arxiv.org/abs/2510.01234v1)\n",
        "  > **TL;DR**: Shards experts across nodes and cuts tail latency by a third.\n",
        "* [Old-style id: Knot Theory](https://arxiv.org/abs/math.GT/0309136)\n",
    }
    assert out == "".join(line for line in parse(text).lines if line not in gone)
    assert merge(text, [], ["2512.99999"]) == text


def test_removal_wins_over_addition() -> None:
    text = read(FIXTURES / "older.md")
    out = merge(text, [NewEntry("2510.00012", "Back again?", d("2025-10-02"))], ["2510.00012"])
    assert "2510.00012" not in out
    assert "### 2025-10-02" not in out


def test_remove_then_add_in_two_merges_moves_a_paper() -> None:
    text = read(FIXTURES / "older.md")
    moved = merge(
        merge(text, [], ["2510.00012"]), [NewEntry("2510.00012", "Moved", d("2025-10-02"))], []
    )
    assert [(e.id, e.date) for e in iter_entries(moved)][:2] == [
        ("2510.00012", d("2025-10-02")),
        ("2510.00011", d("2025-10-01")),
    ]


@pytest.mark.parametrize(
    "text",
    ["", WARNING, f"{WARNING}\n", f"{WARNING}\n\n"],
    ids=["empty", "warning", "warning-newline", "warning-blank"],
)
def test_an_empty_list_gets_the_warning_then_the_section(text: str) -> None:
    out = merge(text, NEXT_DAY, [])
    assert out == f"{WARNING}\n\n{NEXT_DAY_BLOCK}"


def test_a_header_without_the_warning_keeps_its_shape() -> None:
    assert merge("# My list", NEXT_DAY[:1], []) == (
        "# My list\n\n### 2025-03-18\n\n* ["
        + NEXT_DAY[0].title
        + "](https://arxiv.org/abs/2503.12228)\n\n\n"
    )


def test_new_sections_keep_newest_first_order_and_add_order() -> None:
    text = f"{WARNING}\n\n### 2025-03-12\n\n* [Old](https://arxiv.org/abs/2503.00001)\n"
    papers = [
        NewEntry("2503.00002", "Mid b", d("2025-03-11")),
        NewEntry("2503.00003", "Top a", d("2025-03-14")),
        NewEntry("2503.00004", "Mid a", d("2025-03-13")),
        NewEntry("2503.00005", "Top b", d("2025-03-14")),
        NewEntry("2503.00006", "Bottom", d("2025-03-10")),
        NewEntry("2503.00003", "Top a, twice in one add", d("2025-03-14")),
        NewEntry(
            "2503.00007", "Same day, a datetime", dt.datetime(2025, 3, 12, 20, 0, tzinfo=dt.UTC)
        ),
    ]
    out = merge(text, papers, [])
    assert [(e.title, e.date) for e in iter_entries(out)] == [
        ("Top a", d("2025-03-14")),
        ("Top b", d("2025-03-14")),
        ("Mid a", d("2025-03-13")),
        ("Old", d("2025-03-12")),
        ("Same day, a datetime", d("2025-03-12")),
        ("Mid b", d("2025-03-11")),
        ("Bottom", d("2025-03-10")),
    ]
    assert "\n\n\n### 2025-03-13\n\n* [Mid a]" in out
    assert merge(out, papers, []) == out


def test_a_paper_goes_into_the_first_of_two_sections_of_its_date() -> None:
    text = (
        "### 2025-03-12\n\n* [A](https://arxiv.org/abs/2503.00001)\n\n"
        "### 2025-03-12\n\n* [B](https://arxiv.org/abs/2503.00002)\n"
    )
    out = merge(text, [NewEntry("2503.00003", "C", d("2025-03-12"))], [])
    assert ids_in(out) == ["2503.00001", "2503.00003", "2503.00002"]


def test_bad_ids_raise_list_format_error() -> None:
    with pytest.raises(ListFormatError):
        merge("", [NewEntry("not-an-id", "T", d("2025-03-18"))], [])
    with pytest.raises(ListFormatError):
        merge("", [], ["not-an-id"])


# --- properties -------------------------------------------------------------------------------

NEW_IDS = st.builds(
    lambda yy, mm, n, v: f"{yy:02d}{mm:02d}.{n:05d}" + (f"v{v}" if v else ""),
    st.integers(15, 26),
    st.integers(1, 12),
    st.integers(0, 99999),
    st.integers(0, 3),
)
OLD_IDS = st.builds(
    lambda archive, yy, mm, n: f"{archive}/{yy:02d}{mm:02d}{n:03d}",
    st.sampled_from(["cs", "math.GT", "cond-mat", "hep-th", "physics", "q-bio"]),
    st.sampled_from([91, 99, 0, 7]),
    st.integers(1, 12),
    st.integers(0, 999),
)
IDS = st.one_of(NEW_IDS, OLD_IDS)
TRICKY = st.text(
    alphabet=st.sampled_from(list("[]\\`()*#>- \t\n\r\x0b\u2028\u00a0abcλ多🚀")), max_size=80
)
TITLES = st.one_of(TRICKY, st.text(max_size=5000))
LINK_FORMS = [
    "https://arxiv.org/abs/{}",
    "http://arxiv.org/abs/{}v2",
    "https://arxiv.org/pdf/{}v1.pdf",
    "https://arxiv.org/pdf/{}",
]
TAGS = ["MoE", "serving", "", "a b"]
DAYS = st.dates(dt.date(2025, 1, 1), dt.date(2025, 1, 20))
JUNK = st.text(alphabet=st.characters(exclude_characters="\n"), max_size=30)


@st.composite
def entry_lines(draw: st.DrawFn) -> list[str]:
    pid = base_id(draw(IDS))
    assert pid is not None
    title = draw(TRICKY).replace("\n", " ").replace("\r", " ")
    url = draw(st.sampled_from(LINK_FORMS)).format(pid)
    tags = "".join(f"`{t}` " for t in draw(st.lists(st.sampled_from(TAGS), max_size=2)))
    lines = [f"* {tags}[{title}]({url})"]
    if draw(st.booleans()):
        lines.append("  > **TL;DR**: " + draw(JUNK))
    return lines


@st.composite
def list_texts(draw: st.DrawFn) -> str:
    """Lists with the irregularities of real ones: junk, gaps, duplicates, CRLF, no final break."""
    lines: list[str] = draw(st.lists(JUNK, max_size=3))
    if draw(st.booleans()):
        lines += [WARNING, ""]
    for day in sorted(draw(st.sets(DAYS, max_size=5)), reverse=draw(st.booleans())):
        lines.append(f"### {day.isoformat()}")
        for _ in range(draw(st.integers(0, 4))):
            piece = draw(st.one_of(entry_lines(), st.lists(JUNK, min_size=1, max_size=1)))
            lines += piece
            if draw(st.integers(0, 9)) == 0:
                lines += piece  # a duplicate left by an older tool
            lines += [""] * draw(st.integers(0, 2))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    return eol.join(lines) + draw(st.sampled_from(["", eol]))


@st.composite
def changes(draw: st.DrawFn, text: str) -> tuple[list[NewEntry], list[str]]:
    listed = sorted(set(ids_in(text)))
    fresh = draw(st.lists(IDS, max_size=6))
    again = draw(st.lists(st.sampled_from(listed), max_size=3)) if listed else []
    add = [NewEntry(pid, draw(TRICKY), draw(DAYS)) for pid in [*fresh, *again]]
    remove = draw(st.lists(st.sampled_from(listed), max_size=3)) if listed else []
    remove += draw(st.lists(NEW_IDS, max_size=1))
    return draw(st.permutations(add)), remove


def split_lines(text: str) -> list[str]:
    """Lines with their endings; only "\\n" ends a line."""
    return re.findall(r"[^\n]*\n|[^\n]+\Z", text)


def removed_lines(text: str, remove: Sequence[str]) -> set[int]:
    """0-based indexes (in split_lines) of the lines that removing ``remove`` may take."""
    gone = {base_id(r) for r in remove}
    found: set[int] = set()
    for entry in parse(text).entries:
        if entry.id in gone:
            found.update(range(entry.line - 1, entry.line + len(entry.notes)))
    return found


def content(line: str) -> str:
    return line.removesuffix("\n").removesuffix("\r")


def leftover(short: Sequence[str], long: Sequence[str]) -> list[str] | None:
    """The lines of ``long`` left once ``short`` is found in it in order (None if it is not).

    Compared byte for byte, except that a last line without a break may have gained one.
    """
    rest: list[str] = []
    it = iter(long)
    for line in short:
        for other in it:
            if other == line or (not line.endswith("\n") and other in (line + "\n", line + "\r\n")):
                break
            rest.append(other)
        else:
            return None
    rest.extend(it)
    return rest


def is_subsequence(short: Sequence[str], long: Sequence[str]) -> bool:
    return leftover(short, long) is not None


def may_be_added(line: str, added: set[str]) -> bool:
    """Blank lines, headings, the warning line and entry lines of added papers."""
    text = content(line)
    if not text or text == WARNING or re.fullmatch(r"### \d{4}-\d{2}-\d{2}", text):
        return True
    entries = parse(line).entries
    return len(entries) == 1 and entries[0].id in added


@given(pid=IDS, title=TITLES)
@example(pid="2503.12228", title="x" * 5000)
@example(pid="math.GT/0309136", title="a](https://arxiv.org/abs/2503.00001) [b\\")
@example(pid="2503.12228", title="`code` \\[not\\] an escape\n\nover lines 🚀")
@example(pid="2503.12228", title=" \n\t ")
def test_any_title_comes_back_as_its_normal_form(pid: str, title: str) -> None:
    (entry,) = parse(entry_line(pid, title) + "\n").entries
    assert entry.id == base_id(pid)
    assert entry.title == normalize_title(title)
    assert entry.tags == ()


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=examples(200), deadline=None)
@given(data=st.data(), text=list_texts())
def test_a_merge_only_adds_lines_or_removes_lines_of_removed_ids(
    data: st.DataObject, text: str
) -> None:
    add, remove = data.draw(changes(text))
    out = merge(text, add, remove)

    before, after = split_lines(text), split_lines(out)
    may_go = removed_lines(text, remove)
    gone = {base_id(r) for r in remove}

    # difflib, by content (a last line may gain its line break): what it deletes is a line of a
    # removed paper, unless it inserts the same line again (equal neighbours make it shift).
    a, b = [content(x) for x in before], [content(x) for x in after]
    ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    deleted = Counter(x for t, i1, i2, _, _ in ops if t != "equal" for x in a[i1:i2])
    inserted = Counter(x for t, _, _, j1, j2 in ops if t != "equal" for x in b[j1:j2])
    assert deleted - inserted <= Counter(a[i] for i in may_go)

    # Exactly: every other line survives byte for byte, in order, and the rest is new lines.
    added = leftover([line for i, line in enumerate(before) if i not in may_go], after)
    assert added is not None
    new_ids = {base_id(p.id) for p in add} - set(ids_in(text)) - gone
    assert all(may_be_added(line, new_ids) for line in added), added

    now = set(ids_in(out))
    assert not now & gone
    assert new_ids <= now
    assert merge(out, add, remove) == out  # merging the same papers twice == once


@given(text=st.one_of(st.text(), list_texts(), TRICKY))
def test_parse_never_raises_and_gives_the_text_back(text: str) -> None:
    doc = parse(text)
    assert doc.text == text
    assert [e.id for e in doc.entries] == ids_in(text)
    assert merge(text, [], []) == text


@settings(deadline=None)
@given(text=st.one_of(st.text(), TRICKY, list_texts()), pid=IDS, title=TRICKY, day=DAYS)
def test_merge_takes_a_paper_into_any_text(text: str, pid: str, title: str, day: dt.date) -> None:
    out = merge(text, [NewEntry(pid, title, day)], [])
    assert base_id(pid) in ids_in(out)
    assert is_subsequence(split_lines(text), split_lines(out))
    assert merge(out, [NewEntry(pid, title, day)], []) == out
