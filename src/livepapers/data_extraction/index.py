"""Exact-match ground truth against the training text (replaces the paper's manual inspection, §6.2).

:class:`CorpusIndex` holds the training documents joined by a NUL separator, a suffix array over its bytes (prefix
doubling in NumPy) and, per threshold, a hash set of all fixed-length windows for the fast "is there a ≥ 64-char
match" test. ``longest_match`` finds the longest substring of a text that occurs verbatim in some training
document (vectorised binary search of every suffix of the text in the suffix array); ``count_docs`` gives its k
(documents, the k-eidetic count) and ``count_occurrences`` its total number of occurrences.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["CorpusIndex", "is_k_eidetic", "suffix_array"]

_SEP = b"\x00"


def suffix_array(a: np.ndarray) -> np.ndarray:
    """Suffix array of the byte codes ``a`` (shape ``(n,)``) by prefix doubling; end-of-text sorts first."""
    n = int(a.size)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    rank = np.unique(a, return_inverse=True)[1].astype(np.int64).reshape(-1)  # dense ranks 0..u−1
    k = 1
    while True:
        r2 = np.zeros(n, dtype=np.int64)
        r2[: n - k] = rank[k:] + 1 if k < n else 0
        key = rank * (n + 2) + r2
        sa = np.argsort(key, kind="stable")
        sk = key[sa]
        new = np.empty(n, dtype=np.int64)
        new[sa] = np.concatenate([[0], np.cumsum(sk[1:] != sk[:-1])])
        rank = new
        if rank[sa[-1]] == n - 1 or k >= n:
            return sa
        k *= 2


class CorpusIndex:
    """Verbatim-match index over training documents ``docs`` (k counted in documents, as in k-eidetic)."""

    def __init__(self, docs: Sequence[str]) -> None:
        if not docs:
            raise ValueError("CorpusIndex needs at least one document")
        self.docs = list(docs)
        parts = [d.encode("utf-8") for d in self.docs]
        if any(_SEP in p for p in parts):
            raise ValueError("documents must not contain NUL characters (used as the separator)")
        self.text = _SEP.join(parts)
        starts = np.cumsum([0] + [len(p) + 1 for p in parts[:-1]])
        self.doc_starts = np.asarray(starts, dtype=np.int64)
        self.codes = np.frombuffer(self.text, dtype=np.uint8).astype(np.int16)
        self.sa = suffix_array(self.codes)
        self._windows: dict[int, set[int]] = {}

    # ---------------------------------------------------------------------------------------------------------
    def _doc_of(self, positions: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.doc_starts, positions, side="right") - 1

    def _range(self, s: bytes) -> tuple[int, int]:
        """[lo, hi) of suffix-array rows whose suffix starts with ``s``."""
        text, sa, m = self.text, self.sa, len(s)
        lo, hi = 0, len(sa)
        while lo < hi:  # first suffix >= s
            mid = (lo + hi) // 2
            if text[sa[mid]: sa[mid] + m] < s:
                lo = mid + 1
            else:
                hi = mid
        first, hi = lo, len(sa)
        while lo < hi:  # first suffix whose m-prefix > s
            mid = (lo + hi) // 2
            if text[sa[mid]: sa[mid] + m] <= s:
                lo = mid + 1
            else:
                hi = mid
        return first, lo

    def doc_ids(self, s: str) -> list[int]:
        """Sorted ids of the documents containing ``s``."""
        b = s.encode("utf-8")
        if not b:
            return list(range(len(self.docs)))
        lo, hi = self._range(b)
        return sorted({int(d) for d in self._doc_of(self.sa[lo:hi])})

    def count_docs(self, s: str) -> int:
        """Number of training documents containing ``s`` (k)."""
        return len(self.doc_ids(s))

    def count_occurrences(self, s: str) -> int:
        """Number of (possibly overlapping) occurrences of ``s`` in the training documents."""
        b = s.encode("utf-8")
        if not b:
            return 0
        lo, hi = self._range(b)
        return hi - lo

    def has_match(self, text: str, min_chars: int = 64) -> bool:
        """Whether some ``min_chars``-character substring of ``text`` occurs verbatim in a training document."""
        if len(text) < min_chars:
            return False
        win = self._windows.get(min_chars)
        if win is None:
            t = self.text.decode("utf-8")
            win = {hash(t[i:i + min_chars]) for i in range(len(t) - min_chars + 1)}
            self._windows[min_chars] = win
        for i in range(len(text) - min_chars + 1):
            w = text[i:i + min_chars]
            if hash(w) in win and w.encode("utf-8") in self.text:  # hash hit confirmed exactly
                return True
        return False

    def longest_match(self, text: str) -> tuple[str, list[int]]:
        """The longest substring of ``text`` occurring verbatim in the training documents, and those documents.

        Every suffix of ``text`` is binary-searched in the suffix array at once; the match length at a start is
        the longer common prefix with its two neighbours there.
        """
        q = np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int16)
        m = q.size
        if m == 0:
            return "", []
        n = self.sa.size
        W = m
        # Q[i] = q[i:] padded with −1 (shorter than any byte: a finished query sorts first among equal prefixes)
        idx = np.arange(m)[:, None] + np.arange(W)[None, :]
        Q = np.where(idx < m, np.concatenate([q, np.full(W, -1, np.int16)])[np.minimum(idx, m + W - 1)], -1)
        Q = Q.astype(np.int16)
        tpad = np.concatenate([self.codes, np.full(W, -2, np.int16)])  # end of text sorts before everything
        offs = np.arange(W)

        def window(rows: np.ndarray) -> np.ndarray:
            return tpad[self.sa[rows][:, None] + offs[None, :]]

        lo = np.zeros(m, dtype=np.int64)
        hi = np.full(m, n, dtype=np.int64)
        while np.any(lo < hi):
            act = lo < hi
            mid = (lo + hi) // 2
            Tw = window(np.minimum(mid, n - 1))
            neq = Q != Tw
            first = np.where(neq.any(1), neq.argmax(1), W)
            qv = Q[np.arange(m), np.minimum(first, W - 1)]
            tv = Tw[np.arange(m), np.minimum(first, W - 1)]
            greater = (first < W) & (qv > tv)  # suffix q[i:] > text suffix at mid → search right
            lo = np.where(act & greater, mid + 1, lo)
            hi = np.where(act & ~greater, mid, hi)
        best_len, best_start = 0, 0
        for cand in (lo - 1, lo):
            ok = (cand >= 0) & (cand < n)
            Tw = window(np.clip(cand, 0, n - 1))
            eq = (Q == Tw) & (Q >= 0)
            lcp = np.where(eq.all(1), W, (~eq).argmax(1))
            lcp = np.where(ok, lcp, 0)
            i = int(lcp.argmax())
            if lcp[i] > best_len:
                best_len, best_start = int(lcp[i]), i
        if best_len == 0:
            return "", []
        sub = bytes(q[best_start: best_start + best_len].astype(np.uint8)).decode("utf-8", errors="ignore")
        return sub, self.doc_ids(sub) if sub else []


def is_k_eidetic(text: str, index: CorpusIndex, k: int, min_chars: int = 64) -> bool:
    """Tier-A memorised and k-eidetic: ``text`` has a verbatim training match of ≥ ``min_chars`` characters whose
    longest instance occurs in at most ``k`` training documents."""
    if not index.has_match(text, min_chars):
        return False
    sub, docs = index.longest_match(text)
    return len(sub) >= min_chars and 0 < len(docs) <= k
