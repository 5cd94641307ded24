"""Which routes keep which papers, and why: plain terms match whole words, case-insensitively.

The term rules (words, plurals, phrases, ``decod*``, ``/regex/``) are in docs/terms.md.
Plain terms go into one Aho-Corasick automaton over a "skeleton" of the text (bench/matcher.py);
``/regex/`` terms run on RE2, in linear time, with Python's Unicode ``\\w``/``\\d``/``\\b``.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from re import _constants as _sre  # type: ignore[attr-defined]
from re import _parser as _sre_parse  # type: ignore[attr-defined]
from typing import Any

import ahocorasick
import re2  # type: ignore[import-untyped]

from bot.errors import TermError
from bot.models import Match, Paper, Reason, Route

__all__ = ["FIELDS", "Matcher", "check_routes", "check_term"]

FIELDS = ("title", "abstract", "authors", "comment")
"""Every field a term can be looked for in, in the order reasons are listed."""
_TITLE, _ABSTRACT, _AUTHORS, _COMMENT = range(len(FIELDS))  # fields by index

_SEP = "\x00"  # joins fields and author names; terms may not contain it (control character)
_BATCH = 64  # papers per automaton pass in match_many (see bench/README.md)

# ---------------------------------------------------------------- the skeleton

_WORD = "\x80"  # a letter or digit other than ASCII a-z, 0-9 (after lowercasing)
_OTHER = "\x01"  # neither a letter, a digit nor whitespace
# In a skeleton, a character is a word character exactly when it is > " ".


def _skeleton_char(char: str) -> int:
    """The skeleton of one character, as a byte value."""
    lowered = char.lower()[:1]
    if lowered.isascii() and lowered.isalnum():
        return ord(lowered)
    if char.isalnum():
        return ord(_WORD)
    return ord(" ") if char.isspace() else ord(_OTHER)


def _skeleton_errors(error: UnicodeError) -> tuple[bytes, int]:
    """Encoding error handler: the skeleton bytes of a run of non-ASCII characters."""
    assert isinstance(error, UnicodeEncodeError)
    chars = error.object[error.start : error.end]
    return bytes(map(_skeleton_char, chars)), error.end


codecs.register_error("paperbot.skeleton", _skeleton_errors)
_SKELETON_BYTES = bytes(_skeleton_char(chr(b)) if b < 128 else b for b in range(256))


def _skeleton(text: str) -> str:
    """The same-length skeleton of `text`; in C for ASCII, per character otherwise."""
    ascii_bytes = text.encode("ascii", "paperbot.skeleton")
    return ascii_bytes.translate(_SKELETON_BYTES).decode("latin-1")


def _fold(text: str) -> str:
    """Whitespace runs -> one space, no leading or trailing whitespace."""
    return " ".join(text.split())


def _lower(text: str) -> str:
    """``text.lower()``, one character for one (``"İ".lower()`` has two)."""
    lowered = text.lower()
    if len(lowered) != len(text):
        lowered = "".join(c.lower()[:1] for c in text)
    return lowered


# ---------------------------------------------------------------- terms and validation

_WORD_END, _WILDCARD, _ANY_END, _RUN = range(4)  # how a hit's end is checked


@dataclass(frozen=True, slots=True)
class _Term:
    """One normalised term: plain words or a phrase, a word-suffix wildcard, or a regex."""

    text: str  # normalised, as a Reason names it: "llm", "decod*", "/graph ?nets?/"
    body: str  # the words looked for ("decod" for "decod*"); the pattern of a regex
    regex: _Regex | None = None

    @property
    def end_rule(self) -> int:
        """How the end of a hit is checked."""
        if self.text.endswith("*"):
            return _WILDCARD
        return _WORD_END if self.body[-1].isalnum() else _ANY_END


def _parse_term(route: str, role: str, raw: str) -> _Term:
    """Normalise and validate one term of one route; raise TermError if it is unusable."""

    def error(problem: str) -> TermError:
        return TermError(f"route '{route}': term '{raw}' in {role} {problem}")

    term = raw.strip()
    if len(term) >= 2 and term.startswith("/") and term.endswith("/"):
        pattern = term[1:-1]
        if not pattern:
            raise error("is an empty regular expression: write a pattern between the slashes")
        try:
            regex = _Regex(pattern)
        except _Unsupported as exc:
            raise error(
                f"uses {exc}, which paperbot does not run (regular expressions run on RE2, in "
                "linear time): rewrite it without, or drop the slashes to match plain text"
            ) from None
        except (re.error, re2.error, OverflowError, RecursionError) as exc:
            problem = exc.args[0] if exc.args else type(exc).__name__
            if isinstance(problem, bytes):  # RE2's own message
                problem = problem.decode("utf-8", "replace")
            raise error(
                f"is not a valid regular expression ({problem}): fix it, "
                "or drop the slashes to match it as plain text"
            ) from None
        if regex.nullable:
            raise error("matches empty text, so it would match every paper: make it stricter")
        return _Term(text=term, body=pattern, regex=regex)

    term = _lower(_fold(term))
    if not term:
        raise error("is empty: remove it or write a word")
    body = term.removesuffix("*")
    if not any(c.isalnum() for c in body):
        raise error("has no letters or digits: write a word, or /.../ for a regular expression")
    if "*" in body or (body != term and not body[-1].isalnum()):
        raise error("has a '*' that is not right after its last letter or digit: e.g. 'decod*'")
    if any(unicodedata.category(c) == "Cc" for c in body):
        raise error("contains a control character: remove it")
    return _Term(text=term, body=body)


# ---------------------------------------------------------------- regular expressions on RE2

# A /regex/ term is parsed with Python's own parser (so its syntax and meaning are Python's)
# and written out again for RE2, which runs in time linear in the text. RE2's \w, \d and \s
# are ASCII-only, so they are spelled out as Unicode classes. RE2 has no Unicode \b at all:
# for a pattern with \b, the text gets a marker character at each of its word boundaries
# (found by Python's \b), \b becomes "a marker here", and every other character the pattern
# consumes may be preceded by one marker. Hit positions are mapped back to the plain text.

_MARK = "\ufdd0"  # a Unicode noncharacter; one in a text is replaced before marking
_BOUNDARY = re.compile(r"\b")
_SURROGATES = re.compile("[\ud800-\udfff]")
_CATEGORIES = {  # (Unicode class body, ASCII class body, negated?)
    _sre.CATEGORY_WORD: (r"\pL\pN_", "0-9A-Za-z_", False),
    _sre.CATEGORY_NOT_WORD: (r"\pL\pN_", "0-9A-Za-z_", True),
    _sre.CATEGORY_DIGIT: (r"\p{Nd}", "0-9", False),
    _sre.CATEGORY_NOT_DIGIT: (r"\p{Nd}", "0-9", True),
    _sre.CATEGORY_SPACE: (r"\t-\r\x{1c}-\x{1f}\x{85}\pZ", r"\t-\r ", False),
    _sre.CATEGORY_NOT_SPACE: (r"\t-\r\x{1c}-\x{1f}\x{85}\pZ", r"\t-\r ", True),
}
_UNSUPPORTED = {
    _sre.GROUPREF: "a backreference",
    _sre.GROUPREF_EXISTS: "a conditional group",
    _sre.ASSERT: "a lookahead or lookbehind",
    _sre.ASSERT_NOT: "a lookahead or lookbehind",
    _sre.POSSESSIVE_REPEAT: "a possessive repeat",
    _sre.ATOMIC_GROUP: "an atomic group",
}


class _Unsupported(Exception):
    """A construct of Python's regular expressions that RE2 cannot run."""


def _char(code: int) -> str:
    char = chr(code)
    return char if char.isascii() and char.isalnum() else f"\\x{{{code:x}}}"


class _Regex:
    """A Python regular expression, searched case-insensitively by RE2."""

    def __init__(self, pattern: str) -> None:
        tree = _sre_parse.parse(pattern, re.IGNORECASE)
        self.marks = _has_boundary(tree)
        self.nullable = _nullable(tree)
        options = re2.Options()
        options.never_capture = True
        options.log_errors = False
        flags = tree.state.flags
        case = "i" if flags & re.IGNORECASE else "-i"
        self._re2 = re2.compile(f"(?{case}:{self._emit(tree, flags)})", options)

    def search(self, text: str) -> tuple[int, int] | None:
        """The span of the first match in `text`, or None."""
        if _MARK in text:
            text = text.replace(_MARK, "\ufffd")
        marks: list[int] = []
        if self.marks:  # markers at the word boundaries; marks[i] = where marker i is
            marks = [found.start() + i for i, found in enumerate(_BOUNDARY.finditer(text))]
            text = _BOUNDARY.sub(_MARK, text)
        try:
            found = self._re2.search(text)
        except UnicodeEncodeError:  # a lone surrogate: no feed has one, but never crash
            found = self._re2.search(_SURROGATES.sub("\ufffd", text))
        if found is None:
            return None
        start, stop = found.span()
        if marks:
            start -= bisect_left(marks, start)
            stop -= bisect_left(marks, stop)
        return start, stop

    def _emit(self, items: Any, flags: int) -> str:
        return "".join(self._emit_one(op, av, flags) for op, av in items)

    def _emit_one(self, op: Any, av: Any, flags: int) -> str:
        mark = f"\\x{{{ord(_MARK):x}}}" if self.marks else ""
        before = mark + "?" if mark else ""  # a character may follow a word boundary
        if op in _UNSUPPORTED:
            raise _Unsupported(_UNSUPPORTED[op])
        if op == _sre.LITERAL:
            return before + _char(av)
        if op == _sre.NOT_LITERAL:
            return f"{before}[^{_char(av)}{mark}]"
        if op == _sre.ANY:
            return f"{before}[^{'' if flags & re.DOTALL else chr(10)}{mark}]"
        if op == _sre.IN:
            return before + self._emit_class(av, flags, mark)
        if op == _sre.BRANCH:
            return "(?:" + "|".join(self._emit(branch, flags) for branch in av[1]) + ")"
        if op == _sre.SUBPATTERN:
            _group, add, remove, items = av
            inner = (flags | add) & ~remove
            case = "i" if inner & re.IGNORECASE else "-i"
            return f"(?{case}:{self._emit(items, inner)})"
        if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
            low, high, items = av
            if high == _sre.MAXREPEAT:
                count = {0: "*", 1: "+"}.get(low, f"{{{low},}}")
            else:
                count = "?" if (low, high) == (0, 1) else f"{{{low},{high}}}"
            lazy = "?" if op == _sre.MIN_REPEAT else ""
            return f"(?:{self._emit(items, flags)}){count}{lazy}"
        if op == _sre.AT:
            multiline = "m" if flags & re.MULTILINE else "-m"
            if av in (_sre.AT_BEGINNING, _sre.AT_BEGINNING_LINE):
                return f"(?{multiline}:^)"
            if av == _sre.AT_BEGINNING_STRING:
                return r"\A"
            if av in (_sre.AT_END, _sre.AT_END_LINE):
                return f"{before}(?{multiline}:$)"
            if av == _sre.AT_END_STRING:
                return before + r"\z"
            if av == _sre.AT_BOUNDARY:
                return mark
            raise _Unsupported(r"\B")
        raise _Unsupported(f"'{op}'")

    def _emit_class(self, items: Any, flags: int, mark: str) -> str:
        negate = False
        body: list[str] = []
        negated: list[str] = []  # bodies of \W, \D, \S
        for op, av in items:
            if op == _sre.NEGATE:
                negate = True
            elif op == _sre.LITERAL:
                body.append(_char(av))
            elif op == _sre.RANGE:
                body.append(f"{_char(av[0])}-{_char(av[1])}")
            elif op == _sre.CATEGORY:
                unicode, ascii, inverse = _CATEGORIES[av]
                (negated if inverse else body).append(ascii if flags & re.ASCII else unicode)
            else:
                raise _Unsupported(f"'{op}' in a character class")
        if not negate:
            parts = [f"[{''.join(body)}]"] if body else []
            parts += [f"[^{part}{mark}]" for part in negated]
            return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"
        if not negated:
            return f"[^{''.join(body)}{mark}]"
        if len(negated) == 1 and not body:
            return f"[{negated[0]}]"
        word = _CATEGORIES[_sre.CATEGORY_WORD][0]
        under, digit = _char(ord("_")), r"\p{Nd}"
        if negated == [word] and set(body) <= {under, digit}:  # [^\W_], [^\W\d], [^\W\d_]
            letters = r"\pL\p{Nl}\p{No}" if digit in body else r"\pL\pN"
            return f"[{letters}{'' if under in body else '_'}]"
        raise _Unsupported(r"a negated class with \W, \D or \S and more")


def _has_boundary(items: Any) -> bool:
    """Whether the parsed pattern has a \b anywhere."""
    for op, av in items:
        if op == _sre.AT and av == _sre.AT_BOUNDARY:
            return True
        if op == _sre.BRANCH and any(_has_boundary(branch) for branch in av[1]):
            return True
        if op in (_sre.SUBPATTERN, _sre.MAX_REPEAT, _sre.MIN_REPEAT) and _has_boundary(av[-1]):
            return True
    return False


def _nullable(items: Any) -> bool:
    """Whether the parsed pattern can match empty text somewhere."""
    for op, av in items:
        if op == _sre.BRANCH:
            if not any(_nullable(branch) for branch in av[1]):
                return False
        elif op == _sre.SUBPATTERN:
            if not _nullable(av[-1]):
                return False
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
            if av[0] and not _nullable(av[-1]):
                return False
        elif op != _sre.AT:
            return False
    return True


def _route_fields(route: Route) -> frozenset[int]:
    """The indexes of the route's accept/reject fields; raise TermError if one is unknown."""
    for name in route.fields:
        if name not in FIELDS:
            raise TermError(
                f"route '{route.name}': field '{name}' is unknown: use {', '.join(FIELDS)}"
            )
    if not route.fields and (route.accept or route.reject):
        raise TermError(
            f"route '{route.name}': has accept/reject terms but no fields to look in: "
            f"list some of {', '.join(FIELDS)}"
        )
    return frozenset(FIELDS.index(name) for name in route.fields)


def _route_terms(route: Route) -> Iterator[tuple[_Term, bool, frozenset[int]]]:
    """(term, is it a reject term, where to look) for every term of the route, validated."""
    fields = _route_fields(route)
    for raw in route.accept:
        yield _parse_term(route.name, "accept", raw), False, fields
    for raw in route.reject:
        yield _parse_term(route.name, "reject", raw), True, fields
    for raw in route.authors:
        yield _parse_term(route.name, "authors", raw), False, frozenset({_AUTHORS})


def check_term(route: str, role: str, raw: str) -> None:
    """Raise TermError if `raw` cannot be a term of the route's `role` (accept, ...)."""
    _parse_term(route, role, raw)


def check_routes(routes: Sequence[Route]) -> None:
    """Validate every route's fields and terms; raise TermError naming the first bad one."""
    for route in routes:
        for _ in _route_terms(route):
            pass


# ---------------------------------------------------------------- the matcher

# A hit: (segment, start, stop, term, text) where the segment is a (paper, field) of a batch,
# start:stop is in the segment's folded text, and the text is the paper's, whitespace folded.
_Hit = tuple[int, int, int, str, str]


class Matcher:
    """Compiled routes. Build once per routes file; ``match``/``match_many`` are pure."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes: tuple[Route, ...] = tuple(routes)
        # Per field: term -> [(route index, is it a reject term)], what a hit there means.
        self._uses: list[dict[str, list[tuple[int, bool]]]] = [{} for _ in FIELDS]
        plain: dict[str, _Term] = {}
        self._regexes: dict[str, _Term] = {}
        for index, route in enumerate(self.routes):
            for term, reject, fields in _route_terms(route):
                for field in fields:
                    uses = self._uses[field].setdefault(term.text, [])
                    if (index, reject) not in uses:  # a route may list a term twice
                        uses.append((index, reject))
                (self._regexes if term.regex else plain)[term.text] = term
        self._names = [route.name for route in self.routes]
        self._categories = [frozenset(route.categories) for route in self.routes]
        self._primary_only = [route.primary_only for route in self.routes]
        # Only the fields some term looks in are scanned, in FIELDS order.
        self._scan = tuple(field for field, uses in enumerate(self._uses) if uses)

        # Automaton key -> [(term, length, how its end is checked, body if the text must be
        # compared: the skeleton blurs punctuation and non-ASCII letters)].
        keys: dict[str, list[tuple[str, int, int, str]]] = {"  ": [("", 2, _RUN, "")]}
        for term in plain.values():
            skeleton = _skeleton(term.body)
            plain_ascii = term.body.isascii() and term.body.replace(" ", "").isalnum()
            value = (term.text, len(term.body), term.end_rule, "" if plain_ascii else term.body)
            for boundary in (" ", _OTHER) if term.body[0].isalnum() else ("",):
                keys.setdefault(boundary + skeleton, []).append(value)  # starts a word
        self._automaton = ahocorasick.Automaton()
        for key, values in keys.items():
            self._automaton.add_word(key, tuple(values))
        self._automaton.make_automaton()
        self._has_plain = bool(plain)

    def match(self, paper: Paper) -> list[Match]:
        """One Match per route that keeps the paper, in route order."""
        return self._match_batch([paper])

    def match_many(self, papers: Sequence[Paper]) -> list[Match]:
        """Same as ``[m for p in papers for m in self.match(p)]``, batched."""
        matches: list[Match] = []
        for start in range(0, len(papers), _BATCH):
            matches.extend(self._match_batch(papers[start : start + _BATCH]))
        return matches

    # ------------------------------------------------------------ internals

    def _match_batch(self, papers: Sequence[Paper]) -> list[Match]:
        width = len(self._scan)
        if not width:
            return []
        # One segment per (paper, scanned field), paper-major, so a paper's hits are adjacent.
        segments = [_field_text(paper, field) for paper in papers for field in self._scan]
        hits = self._plain_hits(segments) if self._has_plain else []
        if self._regexes:
            hits.extend(self._regex_hits(papers, segments))
        hits.sort()  # by segment, then position: the order of reasons

        matches: list[Match] = []
        current = -1  # the paper whose hits are being read
        accepted: dict[int, list[Reason]] = {}  # route -> reasons
        rejected: set[int] = set()
        last_segment = -1
        seen: set[str] = set()  # the terms seen in this segment: only the first hit is a reason
        for segment, _start, _stop, term, text in hits:
            if segment != last_segment:
                if segment // width != current:
                    if accepted:
                        self._keep(papers[current], accepted, rejected, matches)
                    current, accepted, rejected = segment // width, {}, set()
                last_segment, seen = segment, set()
                field = self._scan[segment % width]
                uses_here = self._uses[field]
            uses = uses_here.get(term)
            if not uses or term in seen:
                continue  # e.g. an author term in a title
            seen.add(term)
            reason = Reason(term, FIELDS[field], text)
            for route, reject in uses:
                if reject:
                    rejected.add(route)
                elif route in accepted:
                    accepted[route].append(reason)
                else:
                    accepted[route] = [reason]
        if accepted:
            self._keep(papers[current], accepted, rejected, matches)
        return matches

    def _keep(
        self,
        paper: Paper,
        accepted: dict[int, list[Reason]],
        rejected: set[int],
        matches: list[Match],
    ) -> None:
        """Add the paper's matches: accepted, not rejected, and watching its categories."""
        for route in sorted(accepted.keys() - rejected if rejected else accepted):
            if self._primary_only[route]:
                applies = paper.primary_category in self._categories[route]
            else:
                applies = not self._categories[route].isdisjoint(paper.categories)
            if applies:
                matches.append(Match(paper.id, self._names[route], tuple(accepted[route])))

    def _plain_hits(self, segments: list[str]) -> list[_Hit]:
        """The plain terms' whole-word hits in the segments."""
        text = _SEP + _SEP.join(segments) + _SEP
        starts: list[int] = []  # where each segment begins in `text`
        position = 1
        for segment in segments:
            starts.append(position)
            position += len(segment) + 1
        hits, runs = self._scan_text(text, starts)
        if runs:  # rescan those segments with their whitespace folded
            hits = [hit for hit in hits if hit[0] not in runs]
            for number in runs:
                again, _ = self._scan_text(_SEP + _fold(segments[number]) + _SEP, [1])
                hits.extend((number, *hit[1:]) for hit in again)
        return hits

    def _scan_text(self, text: str, starts: list[int]) -> tuple[list[_Hit], set[int]]:
        """The whole-word hits in `text`, whose segments begin at `starts`, and the segments
        with a run of whitespace (where a phrase may have been missed).

        `text` must begin and end with _SEP, so every hit has a character on either side.
        """
        skeleton = _skeleton(text)
        hits: list[_Hit] = []
        runs: set[int] = set()
        for end, values in self._automaton.iter(skeleton):
            after = end + 1
            for term, length, end_rule, exact in values:
                start = after - length
                stop = after
                if end_rule == _WORD_END and skeleton[after] > " ":  # the word goes on
                    if skeleton[after] == "s" and skeleton[after + 1] <= " ":
                        stop += 1  # plural "s"
                    elif skeleton.startswith("es", after) and skeleton[after + 2] <= " ":
                        stop += 2  # plural "es"
                    else:
                        continue
                elif end_rule == _WILDCARD:
                    while skeleton[stop] > " ":
                        stop += 1
                elif end_rule == _RUN:
                    runs.add(bisect_right(starts, start) - 1)
                    continue
                if exact and _lower(_fold(text[start:after])) != exact:
                    continue
                found = text[start:stop]
                if " " in term:  # a phrase: its spaces matched single whitespace characters
                    found = _fold(found)
                number = bisect_right(starts, start) - 1
                offset = starts[number]
                hits.append((number, start - offset, stop - offset, term, found))
        return hits, runs

    def _regex_hits(self, papers: Sequence[Paper], segments: list[str]) -> list[_Hit]:
        """The first non-empty match of each regex in each folded field (author by author)."""
        hits: list[_Hit] = []
        width = len(self._scan)
        for number, segment in enumerate(segments):
            field = self._scan[number % width]
            if field == _AUTHORS:
                parts = [_fold(name) for name in papers[number // width].authors]
            else:
                parts = [_fold(segment)]
            for text, term in self._regexes.items():
                if text not in self._uses[field]:
                    continue
                assert term.regex is not None
                hits.extend(_first_regex_hit(number, parts, text, term.regex))
        return hits


def _first_regex_hit(number: int, parts: list[str], term: str, regex: _Regex) -> Iterator[_Hit]:
    """The first match in the parts of a segment (joined by _SEP), if any; never empty."""
    offset = 0
    for part in parts:
        span = regex.search(part)
        if span is not None:
            start, stop = span
            yield number, offset + start, offset + stop, term, part[start:stop]
            return
        offset += len(part) + 1


def _field_text(paper: Paper, field: int) -> str:
    """The stripped text of one field; author names are kept apart by _SEP."""
    if field == _TITLE:
        return paper.title.strip()
    if field == _ABSTRACT:
        return paper.abstract.strip()
    if field == _AUTHORS:
        return _SEP.join(name.strip() for name in paper.authors)
    return (paper.comment or "").strip()
