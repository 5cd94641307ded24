"""arXiv ids: every form seen in the wild reduces to (base id, version); nothing else does."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.arxiv.ids import base_id, parse_arxiv_id, valid_new_id


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # new style, 5 digits (from 1501) and 4 digits (0704 to 1412)
        ("2503.12228", ("2503.12228", None)),
        ("2503.12228v2", ("2503.12228", 2)),
        ("2503.12228v13", ("2503.12228", 13)),
        ("1501.00001", ("1501.00001", None)),
        ("1412.1234", ("1412.1234", None)),
        ("0704.0001v1", ("0704.0001", 1)),
        ("  2503.12228\n", ("2503.12228", None)),
        # prefixes
        ("arXiv:2503.12228v1", ("2503.12228", 1)),
        ("arxiv:2503.12228", ("2503.12228", None)),
        ("ARXIV:1412.1234v3", ("1412.1234", 3)),
        ("oai:arXiv.org:2503.12228v1", ("2503.12228", 1)),
        ("oai:arXiv.org:cs/0112017v2", ("cs/0112017", 2)),
        # abstract and PDF pages, both schemes, export and www hosts
        ("https://arxiv.org/abs/2503.12228", ("2503.12228", None)),
        ("http://arxiv.org/abs/2503.12228v2", ("2503.12228", 2)),
        ("https://export.arxiv.org/abs/2503.12228v4", ("2503.12228", 4)),
        ("http://export.arxiv.org/abs/cond-mat/0412498v1", ("cond-mat/0412498", 1)),
        ("https://www.arxiv.org/abs/2503.12228", ("2503.12228", None)),
        ("https://arxiv.org/pdf/2503.12228", ("2503.12228", None)),
        ("https://arxiv.org/pdf/2503.12228v2", ("2503.12228", 2)),
        ("https://arxiv.org/pdf/2503.12228v2.pdf", ("2503.12228", 2)),
        ("http://arxiv.org/pdf/2503.12228.pdf", ("2503.12228", None)),
        ("https://arxiv.org/pdf/math.GT/0309136v1", ("math/0309136", 1)),
        ("https://arxiv.org/html/2503.12228v1", ("2503.12228", 1)),
        ("arxiv.org/abs/2503.12228", ("2503.12228", None)),
        ("https://arxiv.org/abs/2503.12228/", ("2503.12228", None)),
        ("https://arxiv.org/abs/2503.12228v2?context=cs.DC", ("2503.12228", 2)),
        ("https://arxiv.org/abs/2503.12228#S3", ("2503.12228", None)),
        # old style: subject class dropped from the base id
        ("cs/0112017", ("cs/0112017", None)),
        ("math.GT/0309136", ("math/0309136", None)),
        ("math.GT/0309136v2", ("math/0309136", 2)),
        ("cond-mat/0412498v1", ("cond-mat/0412498", 1)),
        ("cond-mat.str-el/0412498", ("cond-mat/0412498", None)),
        ("hep-th/9108001", ("hep-th/9108001", None)),
        ("math-ph/0101001", ("math-ph/0101001", None)),
        ("q-bio/0701001", ("q-bio/0701001", None)),
        ("arXiv:hep-th/9901001v3", ("hep-th/9901001", 3)),
    ],
)
def test_every_known_form(text: str, expected: tuple[str, int | None]) -> None:
    assert parse_arxiv_id(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "arXiv:",
        "2503",
        "2503.1222",  # 4 digits after 1412
        "1412.12345",  # 5 digits before 1501
        "0703.1234",  # before the scheme started (April 2007)
        "2513.12345",  # month 13
        "2500.12345",  # month 0
        "2503.12228v",
        "2503.12228v0",
        "2503.12228V2",
        "2503.12228x",
        "2503.12228.pdf",  # `.pdf` only on a /pdf/ URL
        "https://arxiv.org/abs/2503.12228.pdf",
        "https://example.org/abs/2503.12228",
        "https://arxiv.org/list/cs.DC/new",
        "https://arxiv.org/abs/",
        "ftp://arxiv.org/abs/2503.12228",
        "abs/2503.12228",
        "2503.12228?context=cs",  # a query only after a URL
        "see 2503.12228",
        "2503.12228 2503.12229",
        "2503.12228,",
        "doi:10.1145/3600006.3613165",
        "foo/0112017",  # not an archive
        "CS/0112017",
        "cs/011201",  # 6 digits
        "cs/01120171",  # 8 digits
        "cs/0113017",  # month 13
        "cs/0812001",  # old style ended in 2007
        "cs/9001001",  # and began in 1991
        "cs.DC",
        "stat/0701001",  # stat never had old-style ids
        "\u0662\u0665\u0660\u0663.\u0661\u0662\u0662\u0662\u0668",  # Arabic-Indic digits
        "2503.12228\x00",
        "2503.12228" + "v1" * 200,
    ],
)
def test_anything_else_is_none(text: str) -> None:
    assert parse_arxiv_id(text) is None


def test_non_string_is_none() -> None:
    assert parse_arxiv_id(None) is None  # type: ignore[arg-type]
    assert parse_arxiv_id(b"2503.12228") is None  # type: ignore[arg-type]


def test_base_id() -> None:
    assert base_id("https://arxiv.org/abs/2503.12228v3") == "2503.12228"
    assert base_id("math.GT/0309136v1") == "math/0309136"
    with pytest.raises(ValueError, match=r"^'2503\.1222' is not an arXiv id \(expected e\.g\."):
        base_id("2503.1222")
    with pytest.raises(ValueError, match="is not an arXiv id"):
        base_id("")


@given(st.text())
def test_never_raises_on_text(text: str) -> None:
    result = parse_arxiv_id(text)
    if result is not None:
        base, version = result
        assert version is None or version >= 1
        assert parse_arxiv_id(base) == (base, None)  # a base id is itself a valid id


_new_ids = st.builds(
    lambda yy, mm, n: f"{yy:02d}{mm:02d}.{n:05d}" if yy >= 15 else f"{yy:02d}{mm:02d}.{n:04d}",
    st.integers(8, 29),
    st.integers(1, 12),
    st.integers(0, 9999),
)
_old_ids = st.builds(
    lambda archive, yy, mm, n: f"{archive}/{yy:02d}{mm:02d}{n:03d}",
    st.sampled_from(["cs", "math", "cond-mat", "hep-th", "astro-ph", "quant-ph", "q-bio"]),
    st.sampled_from([91, 95, 99, 0, 3, 7]),
    st.integers(1, 12),
    st.integers(0, 999),
)
_forms = st.sampled_from(
    [
        "{}",
        "arXiv:{}",
        "oai:arXiv.org:{}",
        "https://arxiv.org/abs/{}",
        "http://export.arxiv.org/abs/{}",
        "https://arxiv.org/pdf/{}",
        "https://arxiv.org/pdf/{}.pdf",
    ]
)


@given(st.one_of(_new_ids, _old_ids), st.none() | st.integers(1, 99), _forms)
def test_round_trip(base: str, version: int | None, form: str) -> None:
    text = form.format(base + (f"v{version}" if version else ""))
    assert parse_arxiv_id(text) == (base, version)
    assert base_id(text) == base


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2503.12228", None),
        ("cs/0112017", None),
        ("arXiv:2503.12228v2", ("2503.12228", 2)),
        ("oai:arXiv.org:cs/0112017", ("cs/0112017", None)),
        ("https://arxiv.org/abs/2503.12228", ("2503.12228", None)),
        ("arxiv.org/pdf/cs/0112017v1.pdf", ("cs/0112017", 1)),
        ("https://arxiv.org/abs/2513.12228", None),
    ],
)
def test_links_only(text: str, expected: tuple[str, int | None] | None) -> None:
    assert parse_arxiv_id(text, bare=False) == expected


@pytest.mark.parametrize(
    ("base", "valid"),
    [
        ("2503.12228", True),
        ("0704.0001", True),
        ("1412.9999", True),
        ("1501.00001", True),
        ("0703.1234", False),
        ("2513.12228", False),
        ("2500.12228", False),
        ("1412.12345", False),
        ("1501.0001", False),
        ("2503-12228", False),
        ("2503.1222x", False),
        ("2503.\u0661\u0662\u0662\u0662\u0668", False),
        ("", False),
    ],
)
def test_valid_new_id_is_the_rule_parse_arxiv_id_uses(base: str, valid: bool) -> None:
    assert valid_new_id(base) is valid
    assert (parse_arxiv_id(base) is not None) is valid
