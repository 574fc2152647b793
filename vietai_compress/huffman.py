"""Huffman coding of integer streams: an optimal prefix code, vectorised encoding and decoding.

Taught in notebook 06_huffman_and_storage. Writing it is the lesson, so it is written here rather
than taken from a library; the tests check it against the math (Kraft sum, entropy bounds).

The code is *canonical*: only the code length of each symbol is stored, and the codes follow from
the lengths. Bits are written most significant first.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

MAX_CODE_LENGTH = 57  # decoding reads code windows as 64-bit integers

def code_lengths(counts: np.ndarray) -> np.ndarray:
    """Huffman code length of every symbol, from its count (array (A,), index = symbol).

    Symbols with count 0 get length 0 (no code). A single used symbol gets length 1.
    Built with a heap: repeatedly merge the two lightest trees; a symbol's length is its depth.
    """
    counts = np.asarray(counts)
    if counts.size and not np.issubdtype(counts.dtype, np.integer):
        raise TypeError(f"counts must be integers, got dtype {counts.dtype}")
    if counts.ndim != 1 or (counts.size and counts.min() < 0):
        raise ValueError("counts must be a 1-D array of non-negative integers")
    lengths = np.zeros(len(counts), dtype=np.int64)
    used = np.flatnonzero(counts)
    if len(used) == 1:
        lengths[used] = 1
        return lengths
    # heap items: (weight, tie-breaker, symbols in this subtree)
    heap = [(int(counts[s]), i, [int(s)]) for i, s in enumerate(used)]
    heapq.heapify(heap)
    tie = len(heap)
    while len(heap) > 1:
        w1, _, left = heapq.heappop(heap)
        w2, _, right = heapq.heappop(heap)
        lengths[left + right] += 1  # every symbol under the new node sits one level deeper
        heapq.heappush(heap, (w1 + w2, tie, left + right))
        tie += 1
    return lengths


def canonical_codes(lengths: np.ndarray) -> np.ndarray:
    """Canonical code of every symbol (A,) uint64, from the lengths: shorter codes first, then by symbol."""
    lengths = np.asarray(lengths, dtype=np.int64)
    codes = np.zeros(len(lengths), dtype=np.uint64)
    code, previous = 0, 0
    for symbol in sorted(np.flatnonzero(lengths), key=lambda s: (lengths[s], s)):
        code <<= int(lengths[symbol]) - previous
        previous = int(lengths[symbol])
        codes[symbol] = code
        code += 1
    return codes


def entropy(counts: np.ndarray) -> float:
    """Empirical entropy H in bits per symbol of a stream with these symbol counts."""
    counts = np.asarray(counts, dtype=np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum()) if p.size else 0.0


@dataclass
class HuffmanCode:
    """A canonical prefix code for the alphabet 0..A-1, given by each symbol's code length (A,)."""

    lengths: np.ndarray

    @classmethod
    def from_symbols(cls, symbols: np.ndarray, alphabet_size: int) -> "HuffmanCode":
        """The optimal code for a stream of integer symbols in [0, alphabet_size)."""
        symbols = _as_symbols(symbols, alphabet_size)
        return cls(code_lengths(np.bincount(symbols, minlength=alphabet_size)))

    def __post_init__(self):
        self.lengths = np.asarray(self.lengths, dtype=np.int64)
        if self.lengths.size and (self.lengths.min() < 0 or self.lengths.max() > MAX_CODE_LENGTH):
            raise ValueError(f"code lengths must be in [0, {MAX_CODE_LENGTH}]")
        if self.kraft_sum > 1.0:
            raise ValueError("code lengths do not form a prefix code (Kraft sum > 1)")
        self.codes = canonical_codes(self.lengths)

    @property
    def kraft_sum(self) -> float:
        return float(sum(2.0 ** -int(length) for length in self.lengths if length > 0))

    def encode(self, symbols: np.ndarray) -> bytes:
        """Symbols (n,) -> the concatenated codes, packed 8 bits per byte (the last byte zero-padded)."""
        symbols = _as_symbols(symbols, len(self.lengths))
        lengths = self.lengths[symbols]
        if np.any(lengths == 0):
            missing = np.unique(symbols[lengths == 0])[:5].tolist()
            raise ValueError(f"symbols {missing} have no code in this table")
        # every output bit: which symbol it belongs to, and its place inside that symbol's code
        owner = np.repeat(np.arange(len(symbols)), lengths)
        starts = np.cumsum(lengths) - lengths
        place = np.arange(owner.size) - starts[owner]
        shift = (lengths[owner] - 1 - place).astype(np.uint64)
        bits = (self.codes[symbols][owner] >> shift) & np.uint64(1)
        return np.packbits(bits.astype(np.uint8)).tobytes()

    def decode(self, data: bytes, n: int) -> np.ndarray:
        """Decode ``n`` symbols from ``data`` without walking the tree bit by bit.

        1. For every bit position p, read the next L bits (L = longest code) as an integer.
        2. Canonical codes make the code length a ``searchsorted`` over per-length limits, and the
           symbol an offset into the symbols sorted by (length, symbol): both for all p at once.
        3. The symbols start at p0 = 0, p1 = p0 + len(p0), ...: follow that chain by pointer doubling
           (jump 1, 2, 4, ... symbols at a time), a handful of vectorised steps.
        """
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        used = np.flatnonzero(self.lengths)
        if used.size == 0:
            raise ValueError("cannot decode symbols with an empty code table")
        L = int(self.lengths.max())
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8)).astype(np.uint64)
        M = bits.size
        padded = np.concatenate([bits, np.zeros(L, dtype=np.uint64)])
        window = np.zeros(M, dtype=np.uint64)
        for i in range(L):
            window = (window << np.uint64(1)) | padded[i:i + M]

        order = sorted(used, key=lambda s: (self.lengths[s], s))
        sorted_symbols = np.array(order, dtype=np.int64)
        per_length = np.bincount(self.lengths[used], minlength=L + 1)  # count of codes of each length
        first_code = np.zeros(L + 1, dtype=np.int64)
        offset = np.zeros(L + 1, dtype=np.int64)
        for length in range(1, L + 1):
            first_code[length] = (first_code[length - 1] + per_length[length - 1]) << 1
            offset[length] = offset[length - 1] + per_length[length - 1]
        limits = np.array([(int(first_code[l]) + int(per_length[l])) << (L - l) for l in range(1, L + 1)],
                          dtype=np.uint64)

        length_at = np.searchsorted(limits, window, side="right") + 1  # L + 1 marks an invalid code
        valid = length_at <= L
        length_at = np.minimum(length_at, L)
        code_at = (window >> (L - length_at).astype(np.uint64)).astype(np.int64)
        symbol_index = offset[length_at] + code_at - first_code[length_at]

        step = np.minimum(np.arange(M) + length_at, M)  # position of the next symbol
        step = np.append(step, M)  # position M: past the end, stays there
        starts, jump = np.zeros(1, dtype=np.int64), step
        while starts.size < n:
            starts = np.concatenate([starts, jump[starts]])
            jump = jump[jump]
        starts = starts[:n]
        if starts[-1] >= M or np.any(~valid[starts]) or starts[-1] + length_at[starts[-1]] > M:
            raise ValueError("Huffman stream is truncated or corrupt")
        return sorted_symbols[symbol_index[starts]]

    def encoded_bits(self, counts: np.ndarray) -> int:
        """Bits the encoded stream takes for these symbol counts (A,) (before padding to bytes)."""
        return int((np.asarray(counts) * self.lengths).sum())

    def average_length(self, counts: np.ndarray) -> float:
        """Average code length in bits per symbol of a stream with these symbol counts (A,)."""
        return self.encoded_bits(counts) / int(np.sum(counts))


def _as_symbols(symbols, alphabet_size: int) -> np.ndarray:
    symbols = np.asarray(symbols)
    if symbols.size == 0:
        return symbols.astype(np.int64).ravel()
    if not np.issubdtype(symbols.dtype, np.integer):
        raise TypeError(f"symbols must be integers, got dtype {symbols.dtype}")
    if symbols.min() < 0 or symbols.max() >= alphabet_size:
        raise ValueError(f"symbols must be in [0, {alphabet_size}), got range "
                         f"[{symbols.min()}, {symbols.max()}]")
    return symbols.astype(np.int64).ravel()

