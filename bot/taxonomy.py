"""arXiv's category taxonomy (https://arxiv.org/category_taxonomy), kept in the package so a
route's categories are checked at start-up, with a "did you mean" for case and typos."""

from __future__ import annotations

import difflib

_ARCHIVES: dict[str, str] = {
    "cs": "AI AR CC CE CG CL CR CV CY DB DC DL DM DS ET FL GL GR GT HC IR IT LG LO MA MM MS NA"
    " NE NI OH OS PF PL RO SC SD SE SI SY",
    "econ": "EM GN TH",
    "eess": "AS IV SP SY",
    "math": "AC AG AP AT CA CO CT CV DG DS FA GM GN GR GT HO IT KT LO MG MP NA NT OA OC PR QA"
    " RA RT SG SP ST",
    "astro-ph": "CO EP GA HE IM SR",
    "cond-mat": "dis-nn mes-hall mtrl-sci other quant-gas soft stat-mech str-el supr-con",
    "nlin": "AO CD CG PS SI",
    "physics": "acc-ph ao-ph app-ph atm-clus atom-ph bio-ph chem-ph class-ph comp-ph data-an"
    " ed-ph flu-dyn gen-ph geo-ph hist-ph ins-det med-ph optics plasm-ph pop-ph soc-ph space-ph",
    "q-bio": "BM CB GN MN NC OT PE QM SC TO",
    "q-fin": "CP EC GN MF PM PR RM ST TR",
    "stat": "AP CO ME ML OT TH",
    "gr-qc": "",
    "hep-ex": "",
    "hep-lat": "",
    "hep-ph": "",
    "hep-th": "",
    "math-ph": "",
    "nucl-ex": "",
    "nucl-th": "",
    "quant-ph": "",
}

# Every name a listing feed accepts: an archive ("cs", "hep-th") or one of its categories.
CATEGORIES: frozenset[str] = frozenset(
    [*_ARCHIVES, *(f"{a}.{c}" for a, subs in _ARCHIVES.items() for c in subs.split())]
)
_BY_FOLDED = {c.casefold(): c for c in CATEGORIES}


def category_problem(name: str) -> str | None:
    """None for a known category; else one sentence saying what is wrong, with a suggestion."""
    if name in CATEGORIES:
        return None
    same = _BY_FOLDED.get(name.casefold())
    if same is not None:
        return f"'{name}' is not an arXiv category: did you mean '{same}'? (case matters)"
    close = difflib.get_close_matches(name, sorted(CATEGORIES), n=1, cutoff=0.75)
    if not close:
        close = [
            _BY_FOLDED[c]
            for c in difflib.get_close_matches(name.casefold(), sorted(_BY_FOLDED), 1, 0.75)
        ]
    hint = f"did you mean '{close[0]}'?" if close else "see https://arxiv.org/category_taxonomy"
    return f"'{name}' is not an arXiv category such as 'cs.DC': {hint}"
