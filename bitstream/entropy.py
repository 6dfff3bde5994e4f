"""Range coding of integer symbols with per-symbol probability tables (constriction's range coder).

A :class:`TableSet` is a list of discrete distributions, each over ``offset .. offset + n - 1``
plus one escape symbol.  Every symbol is coded with the table chosen by its index; values
outside a table's support are coded as the escape symbol and then sent raw (16 bits each).

Symbols are coded grouped by table index (stable order inside a group), so each group is one
vectorised call into constriction with a fixed model.  The decoder knows the indices (from the
header or the hyperprior) and therefore decodes the same groups in the same order.

Two table families exist:

* the Gaussian scale table (format constant, :func:`gaussian_tables`) for the latents ``y``;
* factorized per-channel tables for the hyper-latents ``z``, stored in the weights file.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise

import numpy as np

from .container import FormatError

# Format constants (version 1): the discrete Gaussian scales.  Built by repeated multiplication
# and sqrt only (IEEE-exact operations), so every machine derives the same doubles.
SCALE_MIN = 0.11
SCALE_RATIO = 1.13
SCALE_LEVELS = 64
TAIL_SIGMAS = 6.2  # support of each Gaussian table: +-ceil(6.2 * scale), tail mass ~ 6e-10
PMF_GRID = 2.0**-32  # probabilities are rounded to this grid before they reach constriction
ESCAPE_BITS = 16  # escaped values are sent raw as 16-bit two's-offset integers


def _scale_table() -> tuple[float, ...]:
    s, out = SCALE_MIN, []
    for _ in range(SCALE_LEVELS):
        out.append(s)
        s *= SCALE_RATIO
    return tuple(out)


SCALE_TABLE = _scale_table()
# Geometric midpoints: a scale s maps to index #{k : SCALE_BOUNDS[k] <= s}.
SCALE_BOUNDS = tuple(math.sqrt(a * b) for a, b in pairwise(SCALE_TABLE))


@dataclass(frozen=True)
class TableSet:
    offsets: np.ndarray  # (K,) int64: value coded by symbol 0 of table k
    pmfs: Sequence[np.ndarray]  # K float64 arrays, n_k + 1 entries, the last is the escape (may be lazy)
    _models: dict = field(default_factory=dict, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.pmfs)

    def model(self, k: int):
        m = self._models.get(k)
        if m is None:
            import constriction

            m = constriction.stream.model.Categorical(self.pmfs[k], perfect=False)
            self._models[k] = m
        return m

    @classmethod
    def from_padded(cls, offsets: np.ndarray, lengths: np.ndarray, pmf: np.ndarray) -> TableSet:
        """Build from a (K, maxlen) matrix where row k uses its first ``lengths[k]`` entries."""
        pmfs = tuple(quantize_pmf(pmf[k, : int(lengths[k])]) for k in range(len(offsets)))
        return cls(np.asarray(offsets, dtype=np.int64), pmfs)


def quantize_pmf(p: np.ndarray) -> np.ndarray:
    """Round to PMF_GRID (ulp-level differences in how p was computed then rarely matter) and floor at one step."""
    q = np.round(np.asarray(p, dtype=np.float64) / PMF_GRID)
    return np.maximum(q, 1.0) * PMF_GRID


def _std_cdf(x: np.ndarray) -> np.ndarray:
    return np.array([0.5 * math.erfc(-v / math.sqrt(2.0)) for v in x.ravel()]).reshape(x.shape)


@lru_cache(maxsize=1)
def gaussian_tables() -> TableSet:
    """Discretised zero-mean Gaussians N(0, s_k) for every entry of SCALE_TABLE."""
    offsets, pmfs = [], []
    for s in SCALE_TABLE:
        r = math.ceil(TAIL_SIGMAS * s)
        v = np.abs(np.arange(-r, r + 1, dtype=np.float64))
        # Upper-tail form: accurate for large |v| where 1 - cdf would cancel.
        p = _std_cdf((0.5 - v) / s) - _std_cdf((-0.5 - v) / s)
        tail = 2.0 * _std_cdf(np.array([-(r + 0.5) / s]))[0]
        offsets.append(-r)
        pmfs.append(quantize_pmf(np.append(p, tail)))
    return TableSet(np.array(offsets, dtype=np.int64), tuple(pmfs))


def scale_indexes(scales: np.ndarray) -> np.ndarray:
    """Map (float) scales to table indices; the codec uses the fixed-point twin of this."""
    return np.searchsorted(np.array(SCALE_BOUNDS), scales, side="right").astype(np.int64)


def _flat_indexes(indexes: np.ndarray, n_tables: int) -> np.ndarray:
    idx = np.asarray(indexes, dtype=np.int64).ravel()
    if idx.size and (idx.min() < 0 or idx.max() >= n_tables):
        raise FormatError("table index out of range")
    return idx


def _groups(indexes: np.ndarray, n_tables: int) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    idx = _flat_indexes(indexes, n_tables)
    order = np.argsort(idx, kind="stable")
    counts = np.bincount(idx, minlength=n_tables)
    groups, start = [], 0
    for k in np.flatnonzero(counts):
        groups.append((int(k), start, start + int(counts[k])))
        start += int(counts[k])
    return order, groups


def encode(symbols: np.ndarray, indexes: np.ndarray, tables: TableSet) -> bytes:
    """Range-code integer ``symbols`` with ``tables[indexes]`` (same shape).  Returns the stream."""
    return encode_parts([(symbols, indexes)], tables)


def encode_parts(parts: list[tuple[np.ndarray, np.ndarray]], tables: TableSet) -> bytes:
    """One stream holding several (symbols, indexes) parts, each coded as :func:`encode` codes
    one, in order: a decoder can decode a part before it knows the next part's indexes (the
    checkerboard context's second pass depends on the first)."""
    import constriction

    enc = constriction.stream.queue.RangeEncoder()
    for symbols, indexes in parts:
        _encode_part(enc, symbols, indexes, tables)
    return enc.get_compressed().astype("<u4").tobytes()


def _encode_part(enc, symbols: np.ndarray, indexes: np.ndarray, tables: TableSet) -> None:
    sym = np.asarray(symbols, dtype=np.int64).ravel()
    if sym.shape != np.asarray(indexes).ravel().shape:
        raise ValueError("symbols and indexes differ in shape")
    order, groups = _groups(indexes, len(tables))
    sym = sym[order]
    escaped = []
    for k, a, b in groups:
        n = len(tables.pmfs[k]) - 1
        s = sym[a:b] - tables.offsets[k]
        esc = (s < 0) | (s >= n)
        escaped.append(sym[a:b][esc])
        enc.encode(np.where(esc, n, s).astype(np.int32), tables.model(k))
    _encode_raw(enc, np.concatenate(escaped) if escaped else np.zeros(0, np.int64))


def _encode_raw(enc, raw: np.ndarray) -> None:
    """Escaped values, ESCAPE_BITS each (two's-offset)."""
    import constriction

    half = 1 << (ESCAPE_BITS - 1)
    if raw.size:
        if np.abs(raw).max() >= half:
            raise ValueError(f"latent value beyond +-{half - 1}: cannot be coded")
        enc.encode((raw + half).astype(np.int32), constriction.stream.model.Uniform(1 << ESCAPE_BITS))


# Row coding (the overfitted latents, format 1.5): symbols whose table has at most ROW entries are
# coded in one vectorised call per part, each with its own table as a row of a (n, ROW) matrix
# (the table's entries, then zeros: constriction's leaky quantisation gives every entry a nonzero
# probability, the same on both sides); symbols of wider tables are coded after them, grouped by
# table as above, and escaped values after those.
ROW = 64


def _rows(tables: TableSet) -> tuple[np.ndarray, np.ndarray]:
    """(narrow: which tables fit a row, rows: (K, ROW) their entries zero-padded), cached."""
    got = tables._models.get("rows")
    if got is None:
        narrow = _lengths(tables) <= ROW
        rows = np.zeros((len(tables.pmfs), ROW))
        for k in np.flatnonzero(narrow):
            rows[k, : len(tables.pmfs[k])] = tables.pmfs[k]
        got = tables._models["rows"] = (narrow, rows)
    return got


def encode_rows(parts: list[tuple[np.ndarray, np.ndarray]], tables: TableSet) -> bytes:
    """Like `encode_parts`, with each part's narrow-table symbols in one vectorised call."""
    import constriction

    narrow, rows = _rows(tables)
    family = constriction.stream.model.Categorical(perfect=False)
    enc = constriction.stream.queue.RangeEncoder()
    lengths = _lengths(tables)
    for symbols, indexes in parts:
        sym, idx = np.asarray(symbols, np.int64).ravel(), _flat_indexes(indexes, len(tables))
        nar = narrow[idx]
        s, k = sym[nar], idx[nar]
        v = s - tables.offsets[k]
        esc = (v < 0) | (v >= lengths[k] - 1)
        if s.size:
            enc.encode(np.where(esc, lengths[k] - 1, v).astype(np.int32), family, rows[k])
        if (~nar).any():
            _encode_part(enc, sym[~nar], idx[~nar], tables)
        _encode_raw(enc, s[esc])
    return enc.get_compressed().astype("<u4").tobytes()


def decode(stream: bytes, indexes: np.ndarray, tables: TableSet) -> np.ndarray:
    """Inverse of :func:`encode`: returns int64 symbols in the shape of ``indexes``."""
    return StreamDecoder(stream).decode(indexes, tables)


class StreamDecoder:
    """Decodes the parts of an :func:`encode_parts` stream one call at a time, in order."""

    def __init__(self, stream: bytes):
        import constriction

        if len(stream) % 4:
            raise FormatError("entropy-coded stream length is not a multiple of 4 bytes")
        words = np.frombuffer(stream, dtype="<u4").astype(np.uint32)
        with _invalid_stream():
            self._dec = constriction.stream.queue.RangeDecoder(words)

    def _raw(self, n: int) -> np.ndarray:
        """``n`` escaped values (the inverse of `_encode_raw`)."""
        import constriction

        half = 1 << (ESCAPE_BITS - 1)
        with _invalid_stream():
            return self._dec.decode(constriction.stream.model.Uniform(1 << ESCAPE_BITS), n).astype(np.int64) - half

    def decode(self, indexes: np.ndarray, tables: TableSet) -> np.ndarray:
        """The next part: int64 symbols in the shape of ``indexes``."""
        shape = np.asarray(indexes).shape
        order, groups = _groups(indexes, len(tables))
        out = np.empty(order.size, dtype=np.int64)
        esc_at = np.empty(order.size, dtype=np.int64)  # each symbol's escape code, per its table
        dec = self._dec
        with _invalid_stream():
            for k, a, b in groups:
                out[a:b] = dec.decode(tables.model(k), b - a)
                esc_at[a:b] = len(tables.pmfs[k]) - 1
        pos = np.flatnonzero(out == esc_at)
        if groups:
            out += tables.offsets[np.repeat([k for k, _, _ in groups], [b - a for _, a, b in groups])]
        if pos.size:
            out[pos] = self._raw(pos.size)
        result = np.empty_like(out)
        result[order] = out
        return result.reshape(shape)

    def decode_rows(self, indexes: np.ndarray, tables: TableSet) -> np.ndarray:
        """The next part of an `encode_rows` stream: int64 symbols in the shape of ``indexes``."""
        narrow, rows = _rows(tables)
        shape = np.asarray(indexes).shape
        idx = _flat_indexes(indexes, len(tables))
        nar = narrow[idx]
        if nar.all():  # the common case, kept lean: decoders call this once per wavefront
            out, esc = self._narrow(idx, tables, rows)
            if esc.any():
                out[esc] = self._raw(int(esc.sum()))
            return out.reshape(shape)
        # the stream order: the narrow tables' symbols, the other tables' part, the narrow escapes
        out = np.empty(idx.size, dtype=np.int64)
        narrow_out, esc = self._narrow(idx[nar], tables, rows)
        out[~nar] = self.decode(idx[~nar], tables)
        if esc.any():
            narrow_out[esc] = self._raw(int(esc.sum()))
        out[nar] = narrow_out
        return out.reshape(shape)

    def _narrow(self, k: np.ndarray, tables: TableSet, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Symbols of narrow tables ``k`` (escapes not yet read) and where the escapes are."""
        if not k.size:
            return np.zeros(0, np.int64), np.zeros(0, bool)
        with _invalid_stream():
            v = self._dec.decode(_row_family(tables), rows[k]).astype(np.int64)
        esc = v >= _lengths(tables)[k] - 1  # the escape entry, or a zero-padded one (a damaged stream)
        v += tables.offsets[k]
        return v, esc


@contextmanager
def _invalid_stream():
    """constriction reports a bad stream with these exceptions: a FormatError for the caller."""
    try:
        yield
    except (ValueError, RuntimeError, AssertionError) as e:
        raise FormatError(f"entropy-coded stream is invalid: {e}") from None


def _row_family(tables: TableSet):
    got = tables._models.get("family")
    if got is None:
        import constriction

        got = tables._models["family"] = constriction.stream.model.Categorical(perfect=False)
    return got


def _lengths(tables: TableSet) -> np.ndarray:
    got = tables._models.get("lengths")
    if got is None:
        known = getattr(tables.pmfs, "lengths", None)  # a lazy table set knows them without computing
        got = tables._models["lengths"] = known if known is not None else np.array([len(p) for p in tables.pmfs],
                                                                                    dtype=np.int64)
    return got
