"""arXiv identifiers: every form a paper id is seen in, reduced to (base id, version).

The one answer to "is this an arXiv id"; the base id (`2503.12228`, `math/0309136`) is what
everything is keyed on. Accepted forms: docs/arxiv.md.
"""

from __future__ import annotations

import re

__all__ = ["base_id", "parse_arxiv_id", "valid_new_id"]

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


# Valid YYMM prefixes of new-style ids: 4-digit numbers from 0704 (the scheme started in April
# 2007) to 1412, 5-digit numbers from 1501. Precomputed so a list scan checks an id in a lookup.
_MONTHS = range(1, 13)
_YYMM4 = frozenset(f"{y:02d}{m:02d}" for y in range(7, 15) for m in _MONTHS if (y, m) >= (7, 4))
_YYMM5 = frozenset(f"{y:02d}{m:02d}" for y in range(15, 100) for m in _MONTHS)


def valid_new_id(base: str) -> bool:
    """Whether `base` (`YYMM.NNNN` or `YYMM.NNNNN`, no version) is a valid new-style id.

    The fast check a list scan uses on ids its regex already found; `parse_arxiv_id` uses it too.
    """
    if len(base) == 10:
        yymms = _YYMM5
    elif len(base) == 9:
        yymms = _YYMM4
    else:
        return False
    return base[4] == "." and base[:4] in yymms and base[5:].isdigit() and base[5:].isascii()


def _valid_old(digits: str) -> bool:
    yy, mm = int(digits[:2]), int(digits[2:4])
    return 1 <= mm <= 12 and (yy >= 91 or yy <= 7)


def parse_arxiv_id(text: str, *, bare: bool = True) -> tuple[str, int | None] | None:
    """Return (base id, version or None) for any accepted form of an arXiv id, else None.

    Never raises: anything that is not exactly one arXiv id (in one of the forms listed in
    the module docstring) gives None. `bare=False` accepts only URLs and `arXiv:`/`oai:`
    references, not a lone id (what a link target must be).
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
    if not bare and not (m["url"] or m["oai"] or m["prefix"]):
        return None
    if m["yymm"] is not None:
        base = f"{m['yymm']}.{m['num']}"
        if not valid_new_id(base):
            return None
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
