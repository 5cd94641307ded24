"""arXiv identifiers: every form a paper id is seen in, reduced to (base id, version).

The base id is what everything is keyed on: no version, no subject class, no prefix
(`2503.12228`, `cs/0112017`, `math/0309136`). The version is kept as data.

Accepted forms (surrounding whitespace ignored):
  - new style `YYMM.NNNN` (0704 to 1412) and `YYMM.NNNNN` (from 1501), optional `vN`;
  - old style `archive[.SC]/YYMMNNN` (1991 to 2007) for the 34 archives that had such ids,
    e.g. `cs/0112017`, `math.GT/0309136` (base `math/0309136`), `cond-mat/0412498v1`;
  - each of those after `arXiv:` or `oai:arXiv.org:` (prefixes in any case), or in an
    `http(s)://[www.|export.]arxiv.org/abs|pdf|html/` URL (scheme optional; `/pdf/` may end in
    `.pdf`; a trailing `/`, query or fragment is ignored).
"""

from __future__ import annotations

import re

__all__ = ["base_id", "parse_arxiv_id"]

# The archives that ever had old-style ids (archive/YYMMNNN). Archives created later
# (stat, q-fin, eess, econ) only ever had new-style ids.
_OLD_ARCHIVES = (
    *("acc-phys", "adap-org", "alg-geom", "ao-sci", "astro-ph", "atom-ph", "bayes-an"),
    *("chao-dyn", "chem-ph", "cmp-lg", "comp-gas", "cond-mat", "cs", "dg-ga", "funct-an"),
    *("gr-qc", "hep-ex", "hep-lat", "hep-ph", "hep-th", "math", "math-ph", "mtrl-th", "nlin"),
    *("nucl-ex", "nucl-th", "patt-sol", "physics", "plasm-ph", "q-alg", "q-bio", "quant-ph"),
    *("solv-int", "supr-con"),
)

# Longest names first so that `math-ph` is not read as `math` followed by garbage.
_ARCHIVE = "|".join(re.escape(a) for a in sorted(_OLD_ARCHIVES, key=len, reverse=True))

_FORM = re.compile(
    rf"""
    (?:
        (?P<url>(?i:(?:https?://)?(?:www\.|export\.)?arxiv\.org/)(?P<kind>abs|pdf|html)/)
      | (?P<oai>(?i:oai:arxiv\.org:))
      | (?P<prefix>(?i:arxiv:))
    )?
    (?:
        (?P<yymm>[0-9]{{4}})\.(?P<num>[0-9]{{4,5}})
      | (?P<archive>{_ARCHIVE})(?:\.(?P<subject>[A-Za-z][A-Za-z-]*))?/(?P<old>[0-9]{{7}})
    )
    (?:v(?P<version>[1-9][0-9]{{0,5}}))?
    (?P<pdf>\.pdf)?
    (?P<tail>/?(?:[?\#][^\s]*)?)
    """,
    re.VERBOSE | re.ASCII,
)

_MAX_LEN = 300  # far longer than any real form; keeps pathological input cheap


def _valid_new(yymm: str, num: str) -> bool:
    mm = int(yymm[2:])
    if not 1 <= mm <= 12 or int(yymm) < 704:  # the scheme started in April 2007
        return False
    return len(num) == 4 if int(yymm) <= 1412 else len(num) == 5


def _valid_old(digits: str) -> bool:
    yy, mm = int(digits[:2]), int(digits[2:4])
    return 1 <= mm <= 12 and (yy >= 91 or yy <= 7)


def parse_arxiv_id(text: str) -> tuple[str, int | None] | None:
    """Return (base id, version or None) for any accepted form of an arXiv id, else None.

    Never raises: anything that is not exactly one arXiv id (in one of the forms listed in
    the module docstring) gives None.
    """
    if not isinstance(text, str) or len(text) > _MAX_LEN:
        return None
    m = _FORM.fullmatch(text.strip())
    if m is None:
        return None
    if m["pdf"] and m["kind"] != "pdf":
        return None
    if m["tail"] and not m["url"]:
        return None
    if m["yymm"] is not None:
        if not _valid_new(m["yymm"], m["num"]):
            return None
        base = f"{m['yymm']}.{m['num']}"
    else:
        if not _valid_old(m["old"]):
            return None
        base = f"{m['archive']}/{m['old']}"
    version = int(m["version"]) if m["version"] else None
    return base, version


def base_id(text: str) -> str:
    """The base id of `text` (any accepted form); ValueError with a readable message if none."""
    parsed = parse_arxiv_id(text)
    if parsed is None:
        raise ValueError(
            f"{text!r} is not an arXiv id (expected e.g. 2503.12228, arXiv:2503.12228v2, "
            "cs/0112017 or https://arxiv.org/abs/2503.12228)"
        )
    return parsed[0]
