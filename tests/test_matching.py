"""bot.matching: what a term matches, which routes keep a paper, and why."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import bot.matching
from bot.errors import ConfigError, TermError
from bot.matching import FIELDS, Matcher, check_routes
from bot.models import Match, Paper, Reason, Route

CATS = ("cs.CL",)


def paper(
    title: str = "",
    abstract: str = "",
    *,
    authors: tuple[str, ...] = (),
    comment: str | None = None,
    categories: tuple[str, ...] = CATS,
    primary: str | None = None,
    id: str = "2601.00001",
) -> Paper:
    return Paper(
        id=id,
        title=title,
        abstract=abstract,
        authors=authors,
        comment=comment,
        categories=categories,
        primary_category=categories[0] if primary is None and categories else primary or "",
    )


def route(name: str = "r", **kwargs: object) -> Route:
    kwargs.setdefault("categories", CATS)
    return Route(name=name, **kwargs)  # type: ignore[arg-type]


def reasons(terms: Sequence[str], p: Paper, **kwargs: object) -> list[tuple[str, str, str]]:
    """The reasons of the one route made of `terms` (accept), or [] if it does not match."""
    matches = Matcher([route(accept=tuple(terms), **kwargs)]).match(p)
    assert len(matches) <= 1
    return [(r.term, r.field, r.text) for m in matches for r in m.reasons]


def texts(term: str, text: str) -> list[str]:
    """The texts `term` matched in an abstract `text`."""
    return [found for _term, _field, found in reasons([term], paper(abstract=text))]


# ---------------------------------------------------------------- words, plurals, phrases


def test_matching_ignores_case() -> None:
    assert texts("LLM", "an llm") == ["llm"]
    assert texts("llm", "An LLM.") == ["LLM"]
    assert texts("Large Language Model", "a LARGE language MODEL") == ["LARGE language MODEL"]


@pytest.mark.parametrize("word", ["average", "storage", "leverage", "ragged", "fragment", "rag2"])
def test_a_term_never_matches_inside_another_word(word: str) -> None:
    assert texts("rag", f"We {word} things; {word.upper()}.") == []


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("RAG-based retrieval", "RAG"),
        ("retrieval (RAG) helps", "RAG"),
        ("we use RAG.", "RAG"),
        ("RAG", "RAG"),
        ("x/rag/y", "rag"),
        ("“RAG”", "RAG"),
        ("RAG_index", "RAG"),  # "_" is not a letter or digit
    ],
)
def test_a_term_matches_between_any_non_word_characters(text: str, found: str) -> None:
    assert texts("rag", text) == [found]


@pytest.mark.parametrize(
    ("term", "text", "found"),
    [
        ("llm", "Two LLMs agree", "LLMs"),
        ("large language model", "Large Language Models are big", "Large Language Models"),
        ("inference", "fast inferences", "inferences"),
        ("process", "two processes", "processes"),
        ("rag", "RAGs", "RAGs"),
    ],
)
def test_the_last_word_may_take_a_plural(term: str, text: str, found: str) -> None:
    assert texts(term, text) == [found]


@pytest.mark.parametrize(
    ("term", "text"),
    [
        ("large language model", "large languages model"),  # only the last word
        ("llm", "llmss"),
        ("llm", "llmes2"),
        ("llm", "llmx"),
        ("model", "modelling"),
    ],
)
def test_no_other_suffix_is_allowed(term: str, text: str) -> None:
    assert texts(term, text) == []


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Decoding is slow", "Decoding"),
        ("a decoder", "decoder"),
        ("Decode it", "Decode"),
        ("decod", "decod"),
        ("encoder-decoders", "decoders"),
    ],
)
def test_a_trailing_star_is_a_word_suffix_wildcard(text: str, found: str) -> None:
    assert texts("decod*", text) == [found]


def test_a_wildcard_term_still_starts_a_word() -> None:
    assert texts("decod*", "autodecoder predecoding") == []


@pytest.mark.parametrize(
    "text",
    [
        "large\nlanguage model",
        "large\n  language model",
        "large \t language\r\nmodel",
        "large\u00a0language\u2003model",
        "  large   language   model  ",
    ],
)
def test_a_phrase_matches_across_any_whitespace(text: str) -> None:
    assert texts("large language model", text) == ["large language model"]


def test_a_phrase_does_not_match_across_punctuation_or_fields() -> None:
    assert texts("large language model", "large-language model; large, language model") == []
    p = paper(title="A large", abstract="language model")
    assert reasons(["large language model"], p) == []


def test_terms_with_punctuation_and_non_ascii_letters_match_exactly() -> None:
    assert texts("text-to-speech", "Text-to-Speech systems") == ["Text-to-Speech"]
    assert texts("text-to-speech", "text to speech, text/to/speech") == []
    assert texts("c++", "C++ and c++17 but not c+-") == ["C++"]
    assert texts("c++", "in c++17") == ["c++"]  # no boundary needed after punctuation
    assert texts("müller", "by MÜLLER, not Muller or Mëller") == ["MÜLLER"]
    assert texts(".net", "ASP.NET and .Net") == [".NET"]
    assert texts("gpt-4 model", "a GPT-4\nmodels") == ["GPT-4 models"]


def test_the_dotted_capital_i_lowercases_to_i() -> None:
    assert texts("istanbul", "İSTANBUL") == ["İSTANBUL"]
    assert texts("İstanbul", "istanbul") == ["istanbul"]


def test_terms_are_normalised() -> None:
    p = paper(abstract="Large Language Models")
    assert reasons(["  LARGE \t Language\n model  "], p) == [
        ("large language model", "abstract", "Large Language Models")
    ]


# ---------------------------------------------------------------- regular expressions


def test_a_regex_is_searched_as_is_and_ignores_case() -> None:
    assert texts("/rag/", "Average storage") == ["rag"]  # the first hit is the reason
    assert texts("/gr[ae]y/", "GREY and gray") == ["GREY"]
    assert texts("/llm/", "LLMs") == ["LLM"]  # no implicit plural
    assert texts("/\\bRAG\\b/", "average RAG") == ["RAG"]
    assert texts("/\\S+former/", "transformers") == ["transformer"]  # not lowercased to \s


def test_a_regex_sees_the_text_with_whitespace_folded() -> None:
    assert texts("/large language/", "large\n   language") == ["large language"]


def test_a_regex_looks_at_author_names_one_by_one() -> None:
    p = paper(authors=("Ada Smith", "John Doe"))
    assert reasons([], p, authors=("/smith john/",)) == []
    assert reasons([], p, authors=("/smith$/",)) == [("/smith$/", "authors", "Smith")]


# ---------------------------------------------------------------- fields and authors


def test_accept_terms_look_in_title_and_abstract_by_default() -> None:
    assert reasons(["llm"], paper(title="An LLM")) == [("llm", "title", "LLM")]
    assert reasons(["llm"], paper(abstract="An LLM")) == [("llm", "abstract", "LLM")]
    assert reasons(["llm"], paper(comment="LLM", authors=("Llm Smith",))) == []


def test_a_route_can_choose_its_fields() -> None:
    p = paper(title="llm", abstract="llm", comment="Accepted at LLM workshop", authors=("X Llm",))
    assert reasons(["llm"], p, fields=("comment",)) == [("llm", "comment", "LLM")]
    assert reasons(["llm"], p, fields=("authors", "title")) == [
        ("llm", "title", "llm"),
        ("llm", "authors", "Llm"),
    ]


def test_a_followed_author_accepts_the_paper_alone() -> None:
    p = paper(title="Nothing relevant", authors=("Jane Smith", "Bo Chen"))
    r = route(accept=("llm",), authors=("jane smith",))
    assert Matcher([r]).match(p) == [
        Match(p.id, "r", (Reason("jane smith", "authors", "Jane Smith"),))
    ]


def test_author_terms_look_only_in_author_names() -> None:
    p = paper(title="Smith normal form", abstract="Smith", comment="Smith")
    assert Matcher([route(authors=("smith",))]).match(p) == []


def test_author_names_are_kept_apart() -> None:
    p = paper(authors=("Ada Smith", "John Doe"))
    assert Matcher([route(authors=("smith john",))]).match(p) == []


def test_reject_terms_win() -> None:
    p = paper(title="LLM survey", authors=("Jane Smith",))
    r = route(accept=("llm",), reject=("survey",), authors=("jane smith",))
    assert Matcher([r]).match(p) == []


def test_reject_terms_look_only_in_the_routes_fields() -> None:
    p = paper(title="LLM", comment="a survey")
    assert reasons(["llm"], p, reject=("survey",)) == [("llm", "title", "LLM")]
    assert reasons(["llm"], p, reject=("survey",), fields=("title", "comment")) == []


def test_a_route_needs_a_hit() -> None:
    assert Matcher([route(reject=("survey",))]).match(paper(title="anything")) == []


# ---------------------------------------------------------------- categories


def test_a_route_applies_only_to_its_categories() -> None:
    r = route(accept=("llm",), categories=("cs.CL", "cs.LG"))
    assert Matcher([r]).match(paper("llm", categories=("cs.AI", "cs.LG")))
    assert not Matcher([r]).match(paper("llm", categories=("cs.AI", "cs.CV")))
    assert not Matcher([r]).match(paper("llm", categories=()))


def test_primary_only_looks_at_the_primary_category() -> None:
    r = route(accept=("llm",), categories=("cs.CL",), primary_only=True)
    assert Matcher([r]).match(paper("llm", categories=("cs.CL", "cs.AI")))
    assert not Matcher([r]).match(paper("llm", categories=("cs.AI", "cs.CL")))


# ---------------------------------------------------------------- reasons and results


def test_a_match_carries_every_reason_in_field_then_position_order() -> None:
    p = paper(
        title="RAG for LLMs",
        abstract="Large language models (LLMs) use retrieval; an LLM and RAG again.",
        comment="LLM",
        authors=("Jane Smith",),
    )
    r = route(
        accept=("llm", "rag", "large language model", "language model", "/retriev/"),
        authors=("smith",),
        fields=("abstract", "title", "comment"),
    )
    assert Matcher([r]).match(p) == [
        Match(
            p.id,
            "r",
            (
                Reason("rag", "title", "RAG"),
                Reason("llm", "title", "LLMs"),
                Reason("large language model", "abstract", "Large language models"),
                Reason("language model", "abstract", "language models"),
                Reason("llm", "abstract", "LLMs"),
                Reason("/retriev/", "abstract", "retriev"),
                Reason("rag", "abstract", "RAG"),
                Reason("smith", "authors", "Smith"),
                Reason("llm", "comment", "LLM"),
            ),
        )
    ]


def test_terms_written_differently_give_one_reason() -> None:
    assert reasons(["LLM", "llm", " llm "], paper("llm llm")) == [("llm", "title", "llm")]


def test_matches_come_in_route_order_one_per_route() -> None:
    routes = [
        route("b", accept=("rag",)),
        route("none", accept=("quantum",)),
        route("a", accept=("llm",), authors=("smith",)),
    ]
    p = paper("LLM and RAG", authors=("A Smith",))
    assert [m.route for m in Matcher(routes).match(p)] == ["b", "a"]
    assert [m.paper_id for m in Matcher(routes).match(p)] == [p.id, p.id]


def test_match_many_crosses_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bot.matching, "_BATCH", 3)
    papers = [paper(f"llm {i}" if i % 2 else "nothing", id=str(i)) for i in range(10)]
    matcher = Matcher([route(accept=("llm",))])
    assert [m.paper_id for m in matcher.match_many(papers)] == ["1", "3", "5", "7", "9"]
    assert matcher.match_many([]) == []


def test_a_field_with_a_whitespace_run_is_still_matched_everywhere() -> None:
    p = paper(title="LLM  survey of\n  RAG", abstract="RAG", authors=("Jane \n Smith",))
    assert reasons(["rag", "llm"], p) == [
        ("llm", "title", "LLM"),
        ("rag", "title", "RAG"),
        ("rag", "abstract", "RAG"),
    ]
    assert reasons([], p, authors=("jane smith",)) == [("jane smith", "authors", "Jane Smith")]


def test_routes_without_terms_or_with_only_regexes() -> None:
    assert Matcher([]).match(paper("llm")) == []
    assert Matcher([route()]).match(paper("llm")) == []
    assert reasons(["/ll?m/"], paper("LLM")) == [("/ll?m/", "title", "LLM")]


@pytest.mark.parametrize(
    ("term", "text"),
    [
        ("/(\\w+\\s?)+:/", "We study " * 2000 + "systems"),  # > 120 s on Python's re
        ("/(a+)+$/", "a" * 50_000 + "!"),  # froze `run` for 35 s
        ("/(x|x)*y/", "x" * 50_000),
    ],
    ids=["words-colon", "nested-plus", "alternation"],
)
def test_catastrophic_regexes_run_in_linear_time(term: str, text: str) -> None:
    import time

    started = time.perf_counter()
    assert texts(term, text) == []
    assert time.perf_counter() - started < 10  # exponential would be hours


def test_regexes_keep_pythons_unicode_classes_and_word_boundaries() -> None:
    assert texts("/\\bller\\b/", "Müller and ller") == ["ller"]  # RE2's own \b would say Mü|ller
    assert texts("/s\\b/", "sé s") == ["s"]
    assert texts("/\\w+er\\b/", "the Müller paper") == ["Müller"]
    assert texts("/\\d+ gpus/", "on ٣٢ GPUs") == ["٣٢ GPUs"]
    assert texts("/[^\\W\\d]+ing/", "decoding") == ["decoding"]
    assert texts("/(?-i:RAG)/", "rag, RAG") == ["RAG"]
    assert texts("/x\ufdd0?y/", "x\ufdd0y") == []  # the marker character stays unmatched


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        ({"accept": ("",)}, "route 'r': term '' in accept is empty: "),
        ({"reject": ("   ",)}, "route 'r': term '   ' in reject is empty: "),
        ({"accept": ("--",)}, "route 'r': term '--' in accept has no letters or digits: "),
        ({"authors": ("*",)}, "route 'r': term '*' in authors has no letters or digits: "),
        ({"accept": ("/(/",)}, "route 'r': term '/(/' in accept is not a valid regular expr"),
        ({"accept": ("//",)}, "route 'r': term '//' in accept is an empty regular expression"),
        ({"accept": ("/a*/",)}, "route 'r': term '/a*/' in accept matches empty text"),
        ({"accept": ("/\\b|x/",)}, "term '/\\b|x/' in accept matches empty text"),
        ({"accept": ("/(a)\\1/",)}, "in accept uses a backreference, which paperbot does not"),
        ({"accept": ("/(?=a)b/",)}, "in accept uses a lookahead or lookbehind, which paperbot"),
        ({"accept": ("/a++/",)}, "in accept uses a possessive repeat, which paperbot does not"),
        ({"accept": ("/\\Bx/",)}, "in accept uses \\B, which paperbot does not"),
        ({"accept": ("/" + "(" * 5000 + "a" + ")" * 5000 + "/",)}, "is not a valid regular"),
        ({"accept": ("de*cod",)}, "route 'r': term 'de*cod' in accept has a '*' that is not"),
        ({"accept": ("c+*",)}, "route 'r': term 'c+*' in accept has a '*' that is not"),
        ({"accept": ("a\x00b",)}, "in accept contains a control character"),
        ({"fields": ("title", "body")}, "route 'r': field 'body' is unknown: use title, "),
        ({"accept": ("x",), "fields": ()}, "route 'r': has accept/reject terms but no fields"),
    ],
)
def test_unusable_terms_and_fields_are_refused(terms: dict[str, object], message: str) -> None:
    r = route(**terms)
    with pytest.raises(TermError, match=re.escape(message)):
        check_routes([r])
    with pytest.raises(TermError, match=re.escape(message)):
        Matcher([route("ok", accept=("llm",)), r])


def test_term_errors_are_config_errors_and_say_what_to_do() -> None:
    with pytest.raises(ConfigError) as caught:
        check_routes([route(accept=("/[/",))])
    assert ": fix it, or drop the slashes" in str(caught.value)


def test_check_routes_accepts_good_routes() -> None:
    check_routes(
        [
            route(accept=("llm", "decod*", "/gr[ae]y/", "c++"), reject=("survey",)),
            route("authors-only", authors=("Jane Smith",), fields=()),
            route("all", accept=("x",), fields=FIELDS),
        ]
    )


# ---------------------------------------------------------------- properties

ALNUM = st.characters(categories=["Lu", "Ll", "Lt", "Lo", "Nd", "No"])
WORD = st.text(ALNUM, min_size=1, max_size=6)
SMALL_TEXT = st.text(st.sampled_from("abAB sS\n\t-.(é1_İ\u00a0+\x00"), max_size=40)
SMALL_TERM = st.builds(
    lambda words, star: " ".join(words) + star,
    st.lists(st.text(st.sampled_from("abé1"), min_size=1, max_size=3), min_size=1, max_size=2),
    st.sampled_from(["", "", "*"]),
)
ANY_TEXT = st.text()
RELAXED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def papers(draw: st.DrawFn, text: st.SearchStrategy[str] = ANY_TEXT) -> Paper:
    return Paper(
        id=draw(st.text(min_size=1, max_size=5)),
        title=draw(text),
        abstract=draw(text),
        authors=tuple(draw(st.lists(text, max_size=3))),
        comment=draw(st.none() | text),
        categories=tuple(draw(st.lists(st.sampled_from(["a", "b", "c"]), max_size=2))),
        primary_category=draw(st.sampled_from(["a", "b", "c", ""])),
    )


@st.composite
def routes(draw: st.DrawFn, term: st.SearchStrategy[str] = SMALL_TERM) -> list[Route]:
    terms = st.lists(term | st.sampled_from(["/a+b/", "/s\\b/", "/(é|1)a/"]), max_size=3)
    names = draw(st.lists(st.text(max_size=3), min_size=1, max_size=4, unique=True))
    return [
        Route(
            name=name,
            categories=tuple(draw(st.lists(st.sampled_from(["a", "b", "c"]), max_size=2))),
            accept=tuple(draw(terms)),
            reject=tuple(draw(terms)),
            authors=tuple(draw(terms)),
            fields=tuple(draw(st.lists(st.sampled_from(FIELDS), min_size=1, unique=True))),
            primary_only=draw(st.booleans()),
        )
        for name in names
    ]


@RELAXED
@given(routes(), st.lists(papers(), max_size=3))
def test_match_never_raises_on_arbitrary_text(rs: list[Route], ps: list[Paper]) -> None:
    matcher = Matcher(rs)
    for p in ps:
        for m in matcher.match(p):
            assert m.paper_id == p.id
            assert m.reasons


@RELAXED
@given(st.lists(WORD, min_size=1, max_size=3), WORD | st.just(""), WORD | st.just(""), st.text())
def test_a_term_never_matches_strictly_inside_a_longer_word(
    words: list[str], before: str, after: str, context: str
) -> None:
    term = " ".join(words)
    assume(before or after.lower() not in ("", "s", "es"))
    # The term occurs once, glued to word characters; the context shares no letter or digit
    # with it, so no other occurrence can start or end in the context.
    assume(not set(bot.matching._lower(term)) & set(bot.matching._lower(context)) - {" "})
    assert texts(term, f"{context} {before}{term}{after} {context}") == []


@RELAXED
@given(routes(), st.lists(papers(SMALL_TEXT), max_size=8))
def test_match_many_is_per_paper_match(rs: list[Route], ps: list[Paper]) -> None:
    matcher = Matcher(rs)
    assert matcher.match_many(ps) == [m for p in ps for m in matcher.match(p)]


@RELAXED
@given(routes(), st.lists(papers(SMALL_TEXT), max_size=4), st.randoms())
def test_route_order_only_changes_the_order(
    rs: list[Route], ps: list[Paper], rng: random.Random
) -> None:
    shuffled = rs[:]
    rng.shuffle(shuffled)
    for p in ps:
        first = {m.route: m for m in Matcher(rs).match(p)}
        second = Matcher(shuffled).match(p)
        assert {m.route: m for m in second} == first
        assert [m.route for m in second] == [r.name for r in shuffled if r.name in first]


def first_hit(term: str, text: str) -> tuple[int, int] | None:
    """Where `term` first matches the folded `text`, by a slow regular expression."""
    term = term.strip()
    if len(term) >= 2 and term[0] == term[-1] == "/":
        hits = [m for m in re.finditer(term[1:-1], text, re.IGNORECASE) if m.end() > m.start()]
        return (hits[0].start(), hits[0].end()) if hits else None
    body = bot.matching._lower(" ".join(term.split()))
    word = r"[^\W_]"  # a letter or digit
    pattern = (f"(?<!{word})" if body[0].isalnum() else "") + re.escape(body.removesuffix("*"))
    if body.endswith("*"):
        pattern += f"{word}*"
    elif body[-1].isalnum():
        pattern += f"(?:e?s)?(?!{word})"
    found = re.search(pattern, bot.matching._lower(text))
    return (found.start(), found.end()) if found else None


def normalised(term: str) -> str:
    term = term.strip()
    return term if len(term) >= 2 and term[0] == term[-1] == "/" else " ".join(term.lower().split())


def reference_match(routes: Sequence[Route], p: Paper) -> list[Match]:
    """The matching rules, written out slowly and plainly."""
    fold = " ".join
    names = [fold(name.split()) for name in p.authors]
    texts = {
        "title": [(0, fold(p.title.split()))],
        "abstract": [(0, fold(p.abstract.split()))],
        "comment": [(0, fold((p.comment or "").split()))],
        "authors": [(sum(len(n) + 1 for n in names[:i]), n) for i, n in enumerate(names)],
    }

    def hits(terms: Sequence[str], fields: Sequence[str]) -> list[tuple[int, int, int, str, str]]:
        found = []
        for term in terms:
            for field in fields:
                for offset, text in texts[field]:
                    hit = first_hit(term, text)
                    if hit:
                        start, stop = hit
                        position = (FIELDS.index(field), offset + start, offset + stop)
                        found.append((*position, normalised(term), text[start:stop]))
                        break  # the first author name with a hit
        return found

    matches = []
    for r in routes:
        if r.primary_only:
            applies = p.primary_category in r.categories
        else:
            applies = bool(set(r.categories) & set(p.categories))
        if not applies or hits(r.reject, r.fields):
            continue
        found = sorted(set(hits(r.accept, r.fields) + hits(r.authors, ["authors"])))
        first = {}
        for field, _start, _stop, term, text in found:
            first.setdefault((field, term), Reason(term, FIELDS[field], text))
        if first:
            matches.append(Match(p.id, r.name, tuple(first.values())))
    return matches


PUNCTUATED_TERM = st.sampled_from([".a", "a+", "é-a", "b.", "a-b*", "1 a-b"])


@RELAXED
@given(routes(SMALL_TERM | PUNCTUATED_TERM), st.lists(papers(SMALL_TEXT), max_size=3))
def test_matching_agrees_with_a_slow_reference(rs: list[Route], ps: list[Paper]) -> None:
    matcher = Matcher(rs)
    for p in ps:
        assert matcher.match(p) == reference_match(rs, p)


REGEXES = st.sampled_from(
    [
        "/s\\b/",
        "/\\bé/",
        "/\\b\\w+s\\b/",
        "/\\w\\W/",
        "/[a\\W]b/",
        "/\\d\\D/",
        "/a.b/",
        "/^\\w/",
        "/\\w$/",
        "/(?:a|é)+?b/",
        "/[^ab]s/",
        "/\\S+ \\S/",
        "/\\bab*\\b/",
    ]
)


@RELAXED
@given(st.lists(REGEXES, min_size=1, max_size=3), st.lists(papers(SMALL_TEXT), max_size=3))
def test_re2_regexes_agree_with_pythons_re(terms: list[str], ps: list[Paper]) -> None:
    rs = [route("r", accept=tuple(terms), fields=FIELDS, categories=("a", "b", "c"))]
    matcher = Matcher(rs)
    for p in ps:
        assert matcher.match(p) == reference_match(rs, p)
