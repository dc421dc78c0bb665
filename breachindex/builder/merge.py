"""The one merge routine of every build: records with equal keys become one row.

``build()`` merges its records once, the spilling build each key-range partition, and ``add``
each partition of the old index with the new breach's rows; all three call ``merge_rows``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import BuildError

__all__ = ["KeyCollision", "MergedRows", "merge_rows"]


class KeyCollision(Exception):
    """Two different numbers share a 64-bit key: the build starts again under the next tweak."""


@dataclass
class MergedRows:
    """One row per distinct key, keys ascending."""

    keys: np.ndarray
    #: the ``united`` columns, OR-ed over each key's records
    united: list[np.ndarray]
    #: the ``first`` columns, from each key's first record
    first: list[np.ndarray]
    #: per row, its records' detail blobs in order (when details were given)
    details: list[list[bytes]] | None
    #: records folded into an earlier record of the same key
    folded: int


def merge_rows(keys: np.ndarray, *, united: Sequence[np.ndarray], first: Sequence[np.ndarray] = (),
               check: np.ndarray | None = None, details: Sequence[list[bytes]] | None = None,
               stable: bool = False, presorted: bool = False) -> MergedRows:
    """Sort by key and fold records with equal keys: OR the ``united`` columns (breach and
    class masks), keep the ``first`` columns of the first record (a number's country is one
    value), concatenate the ``details`` lists.

    ``check`` is a second hash of each record's number under an independent key: equal keys
    with different checks are two numbers, and raise ``KeyCollision``. ``stable`` keeps input
    order among equal keys (``add`` lists the old row first); without it the order of equal
    keys is unspecified, which only matters for ``first`` and ``details``. ``presorted``: the
    keys are already ascending (records sorted in C), so they are not sorted again; the columns
    may come back as views of the ones given.
    """
    order = None if presorted else np.argsort(keys, kind="stable" if stable else None)

    def ordered(column: np.ndarray) -> np.ndarray:
        return column if order is None else column[order]

    keys = ordered(keys)
    if presorted and len(keys) > 1 and bool(np.any(keys[1:] < keys[:-1])):
        raise BuildError("internal error: merge_rows(presorted=True) was given keys out of order")
    same = keys[1:] == keys[:-1]
    any_same = bool(same.any())
    if any_same and check is not None:
        checks = ordered(check)
        if np.any(checks[1:][same] != checks[:-1][same]):
            raise KeyCollision
    ordered_details = None if details is None else (
        list(details) if order is None else [details[i] for i in order.tolist()])
    if not any_same:
        return MergedRows(keys, [ordered(c) for c in united], [ordered(c) for c in first], ordered_details, 0)
    starts = np.flatnonzero(np.concatenate(([True], ~same)))
    merged_details = None
    if ordered_details is not None:
        ends = np.append(starts[1:], len(keys))
        merged_details = [[blob for j in range(a, b) for blob in ordered_details[j]]
                          for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
    return MergedRows(keys[starts], [np.bitwise_or.reduceat(ordered(c), starts) for c in united],
                      [ordered(c)[starts] for c in first], merged_details, len(keys) - len(starts))
