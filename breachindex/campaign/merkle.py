"""Merkle trees as RFC 6962 (Certificate Transparency) defines them, and their proofs.

* leaf hash: SHA-256(0x00 || leaf data); interior node: SHA-256(0x01 || left || right);
  the empty tree: SHA-256 of nothing. The prefixes keep a leaf from passing for a node.
* a tree of n > 1 leaves splits at k, the largest power of two smaller than n: its root is
  node(root of the first k leaves, root of the other n - k) (RFC 6962 section 2.1).
* an inclusion proof (audit path, section 2.1.1) shows that a leaf is at an index of a tree;
  a consistency proof (section 2.1.2) shows that a tree of m leaves is the first m leaves of
  a tree of n. Both are checked with the algorithms of RFC 9162 sections 2.1.3.2 and 2.1.4.2.

Everything here works on leaf *hashes* (32 bytes each) except ``leaf_hash`` itself.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "RootBuilder",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_of",
    "verify_consistency",
    "verify_inclusion",
]

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + bytes(data)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


class RootBuilder:
    """The root of a growing tree in O(log n) memory: the roots of its perfect subtrees.

    The leaves of a tree of n split into perfect subtrees by the binary digits of n, largest
    first; folding their roots from the right gives exactly RFC 6962's root.
    """

    __slots__ = ("_stack", "size")

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []  # (leaf count, root) of perfect subtrees
        self.size = 0

    def add(self, leaf: bytes) -> None:
        """Append a leaf hash."""
        count, node = 1, leaf
        while self._stack and self._stack[-1][0] == count:
            left_count, left = self._stack.pop()
            count, node = left_count + count, node_hash(left, node)
        self._stack.append((count, node))
        self.size += 1

    def root(self) -> bytes:
        """The root of the leaves added so far."""
        if not self._stack:
            return EMPTY_ROOT
        node = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            node = node_hash(left, node)
        return node


def root_of(leaves: Iterable[bytes]) -> bytes:
    """The root of a tree of leaf hashes."""
    builder = RootBuilder()
    for leaf in leaves:
        builder.add(leaf)
    return builder.root()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _subtree_root(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    builder = RootBuilder()
    for i in range(lo, hi):
        builder.add(leaves[i])
    return builder.root()


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``leaves`` (RFC 6962 PATH), leaf first."""
    if not 0 <= index < len(leaves):
        raise ValueError("the leaf index is outside the tree")
    path: list[bytes] = []
    lo, hi, m = 0, len(leaves), index
    while hi - lo > 1:  # walk down, collecting the sibling subtree's root at each level
        k = _split(hi - lo)
        if m < k:
            path.append(_subtree_root(leaves, lo + k, hi))
            hi = lo + k
        else:
            path.append(_subtree_root(leaves, lo, lo + k))
            lo, m = lo + k, m - k
    path.reverse()
    return path


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes) -> bool:
    """True if ``path`` proves ``leaf`` (a leaf hash) at ``index`` of the tree of ``size``
    leaves whose root is ``root`` (RFC 9162 section 2.1.3.2)."""
    if not 0 <= index < size or any(len(p) != 32 for p in path):
        return False
    fn, sn, node = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            node = node_hash(sibling, node)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            node = node_hash(node, sibling)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and hmac.compare_digest(node, root)


def consistency_proof(old_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The proof that the first ``old_size`` leaves form a prefix of ``leaves`` (RFC 6962 PROOF)."""
    n = len(leaves)
    if not 1 <= old_size <= n:
        raise ValueError("a consistency proof needs 1 <= old size <= new size")
    proof: list[bytes] = []
    lo, hi, m, whole = 0, n, old_size, True  # SUBPROOF(m, D[lo:hi], whole), unrolled
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append(_subtree_root(leaves, lo + k, hi))
            hi = lo + k
        else:
            proof.append(_subtree_root(leaves, lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        proof.append(_subtree_root(leaves, lo, hi))
    proof.reverse()
    return proof


def verify_consistency(old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes,
                       new_root: bytes) -> bool:
    """True if ``proof`` shows the tree (``old_size``, ``old_root``) is a prefix of the tree
    (``new_size``, ``new_root``) (RFC 9162 section 2.1.4.2)."""
    if not 1 <= old_size <= new_size or any(len(p) != 32 for p in proof):
        return False
    if old_size == new_size:
        return not proof and hmac.compare_digest(old_root, new_root)
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    first = second = path[0]
    for node in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            first, second = node_hash(node, first), node_hash(node, second)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            second = node_hash(second, node)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and hmac.compare_digest(first, old_root) and hmac.compare_digest(second, new_root)
