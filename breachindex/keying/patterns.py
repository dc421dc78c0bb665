"""The one analyser of phonenumbers' numbering patterns.

phonenumbers' metadata writes numbering plans as regular expressions over digits, in a small
subset of the syntax: digits, ``\\d``, ``[...]`` classes with ranges, ``(...)`` and ``(?:...)``
groups, ``|``, the quantifiers ``?``, ``*``, ``+``, ``{n}``, ``{n,}``, ``{n,m}``, and an end
anchor ``$`` in a few national-prefix patterns. :func:`parse` reads that subset into a small
tree (and refuses anything else with :class:`PatternError`, so a metadata update that brings new
syntax is noticed, not misread). Two users build on the tree:

- the phone fast path (``keying.phone``) asks :func:`first_digits`: at which first digits could
  a region's ``national_prefix_for_parsing`` strip something?
- the synthetic generator (``synth.synthetic``) walks a :class:`DigitAutomaton` of a region's
  mobile ``national_number_pattern`` to split the valid number space into prefix blocks.

Only the documented ``re`` module is used elsewhere; nothing here relies on CPython's private
regex parser.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["PatternError", "Node", "parse", "first_digits", "DigitAutomaton"]

_DIGITS = "0123456789"
_ALL_DIGITS: frozenset[int] = frozenset(range(10))

#: ("set", digits) | ("cat", [nodes]) | ("alt", [nodes]) | ("rep", node, lo, hi or None) | ("end",)
Node = tuple[Any, ...]


class PatternError(ValueError):
    """The pattern uses regex syntax outside the subset phonenumbers' metadata uses."""


class _Parser:
    """Recursive descent over the subset described in the module docstring."""

    def __init__(self, pattern: str) -> None:
        self.s = pattern
        self.i = 0

    def parse(self) -> Node:
        node = self._alt()
        if self.i != len(self.s):
            raise PatternError(f"unexpected {self.s[self.i]!r} at offset {self.i}")
        return node

    def _peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def _alt(self) -> Node:
        branches = [self._cat()]
        while self._peek() == "|":
            self.i += 1
            branches.append(self._cat())
        return ("alt", branches) if len(branches) > 1 else branches[0]

    def _cat(self) -> Node:
        items = []
        while self._peek() not in ("", "|", ")"):
            items.append(self._quantified(self._atom()))
        return ("cat", items)

    def _atom(self) -> Node:
        c = self._peek()
        if c == "(":
            self.i += 1
            if self.s.startswith("?:", self.i):
                self.i += 2
            elif self._peek() == "?":
                raise PatternError("unsupported group construct")
            node = self._alt()
            if self._peek() != ")":
                raise PatternError("unbalanced parenthesis")
            self.i += 1
            return node
        if c == "[":
            return self._class()
        if c == "$":
            self.i += 1
            return ("end",)
        if self.s.startswith("\\d", self.i):
            self.i += 2
            return ("set", _ALL_DIGITS)
        if c and c in _DIGITS:
            self.i += 1
            return ("set", frozenset((int(c),)))
        raise PatternError(f"unsupported syntax {c!r} at offset {self.i}")

    def _class(self) -> Node:
        self.i += 1  # '['
        if self._peek() == "^":
            raise PatternError("negated classes are not supported")
        digits: set[int] = set()
        while self._peek() != "]":
            if self.s.startswith("\\d", self.i):
                digits.update(_ALL_DIGITS)
                self.i += 2
                continue
            c = self._peek()
            if not c or c not in _DIGITS:
                raise PatternError(f"unsupported class member {c!r}")
            self.i += 1
            if self._peek() == "-" and self.s[self.i + 1 : self.i + 2] != "]":
                hi = self.s[self.i + 1 : self.i + 2]
                if not hi or hi not in _DIGITS:
                    raise PatternError("bad class range")
                digits.update(range(int(c), int(hi) + 1))
                self.i += 2
            else:
                digits.add(int(c))
        self.i += 1  # ']'
        return ("set", frozenset(digits))

    def _quantified(self, node: Node) -> Node:
        c = self._peek()
        if c == "?":
            self.i += 1
            node = ("rep", node, 0, 1)
        elif c == "*":
            self.i += 1
            node = ("rep", node, 0, None)
        elif c == "+":
            self.i += 1
            node = ("rep", node, 1, None)
        elif c == "{":
            end = self.s.find("}", self.i)
            if end < 0:
                raise PatternError("unterminated quantifier")
            body = self.s[self.i + 1 : end]
            self.i = end + 1
            lo_s, sep, hi_s = body.partition(",")
            if not lo_s.isdigit() or (hi_s and not hi_s.isdigit()):
                raise PatternError(f"bad quantifier {{{body}}}")
            lo = int(lo_s)
            hi = (int(hi_s) if hi_s else None) if sep else lo
            node = ("rep", node, lo, hi)
        else:
            return node
        if self._peek() == "?":  # lazy modifier: same language
            self.i += 1
        return node


def parse(pattern: str) -> Node:
    """The tree of ``pattern``; raises :class:`PatternError` outside the subset."""
    return _Parser(pattern).parse()


def _first(node: Node) -> tuple[frozenset[int], bool]:
    """(digits a non-empty match can start with, whether the node can match empty)."""
    kind = node[0]
    if kind == "set":
        return node[1], False
    if kind == "end":
        return frozenset(), True
    if kind == "rep":
        digits, nullable = _first(node[1])
        return digits, nullable or node[2] == 0
    if kind == "alt":
        out: frozenset[int] = frozenset()
        any_nullable = False
        for branch in node[1]:
            digits, nullable = _first(branch)
            out |= digits
            any_nullable = any_nullable or nullable
        return out, any_nullable
    out = frozenset()  # "cat"
    for item in node[1]:
        digits, nullable = _first(item)
        out |= digits
        if not nullable:
            return out, False
    return out, True


def first_digits(pattern: str) -> tuple[frozenset[int], bool]:
    """(the digits a non-empty match of ``pattern`` can start with, whether it can match empty).

    Raises :class:`PatternError` for syntax outside the subset: the caller then treats every
    first digit as possible."""
    return _first(parse(pattern))


class DigitAutomaton:
    """Thompson NFA over digits of a whole-string pattern, with memoised subset steps and
    fixed-length universality and emptiness tests."""

    def __init__(self, pattern: str) -> None:
        self._eps: list[list[int]] = []
        self._edges: list[list[tuple[frozenset[int], int]]] = []
        start, self._final = self._build(parse(pattern))
        self.start = self._closure((start,))
        self._step_memo: dict[tuple[frozenset[int], int], frozenset[int]] = {}
        self._univ_memo: dict[tuple[frozenset[int], int], bool] = {}
        self._poss_memo: dict[tuple[frozenset[int], int], bool] = {}

    def _new(self) -> int:
        self._eps.append([])
        self._edges.append([])
        return len(self._eps) - 1

    def _build(self, node: Node) -> tuple[int, int]:
        kind = node[0]
        if kind == "end":  # a whole-string pattern has no use for it: refuse rather than guess
            raise PatternError("an end anchor inside a numbering pattern")
        if kind == "set":
            s, e = self._new(), self._new()
            self._edges[s].append((node[1], e))
            return s, e
        if kind == "cat":
            s = cur = self._new()
            for item in node[1]:
                a, b = self._build(item)
                self._eps[cur].append(a)
                cur = b
            return s, cur
        if kind == "alt":
            s, e = self._new(), self._new()
            for branch in node[1]:
                a, b = self._build(branch)
                self._eps[s].append(a)
                self._eps[b].append(e)
            return s, e
        _, sub, lo, hi = node  # "rep"
        s = cur = self._new()
        for _ in range(lo):
            a, b = self._build(sub)
            self._eps[cur].append(a)
            cur = b
        if hi is None:  # loop back: cur is both the loop head and the exit
            a, b = self._build(sub)
            self._eps[cur].append(a)
            self._eps[b].append(cur)
            return s, cur
        e = self._new()
        self._eps[cur].append(e)
        for _ in range(hi - lo):
            a, b = self._build(sub)
            self._eps[cur].append(a)
            cur = b
            self._eps[cur].append(e)
        return s, e

    def _closure(self, states: Iterable[int]) -> frozenset[int]:
        seen = set(states)
        todo = list(seen)
        while todo:
            for t in self._eps[todo.pop()]:
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
        return frozenset(seen)

    def step(self, states: frozenset[int], digit: int) -> frozenset[int]:
        key = (states, digit)
        out = self._step_memo.get(key)
        if out is None:
            out = self._closure([t for s in states for ds, t in self._edges[s] if digit in ds])
            self._step_memo[key] = out
        return out

    def universal(self, states: frozenset[int], remaining: int) -> bool:
        """Does every ``remaining``-digit string lead from ``states`` to a match?"""
        key = (states, remaining)
        out = self._univ_memo.get(key)
        if out is None:
            if remaining == 0:
                out = self._final in states
            else:
                out = all(self.universal(self.step(states, d), remaining - 1) for d in range(10))
            self._univ_memo[key] = out
        return out

    def possible(self, states: frozenset[int], remaining: int) -> bool:
        """Does at least one ``remaining``-digit string lead from ``states`` to a match?"""
        key = (states, remaining)
        out = self._poss_memo.get(key)
        if out is None:
            if not states:
                out = False
            elif remaining == 0:
                out = self._final in states
            else:
                out = any(self.possible(self.step(states, d), remaining - 1) for d in range(10))
            self._poss_memo[key] = out
        return out
