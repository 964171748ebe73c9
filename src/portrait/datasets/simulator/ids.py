"""Vectorised, deterministic identifiers and PII-like strings (no per-row Python)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_MASK48 = np.uint64((1 << 48) - 1)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def prefixed(prefix: str, numbers: np.ndarray, width: int = 0) -> pa.Array:
    """``prefix`` followed by each number, zero-padded to ``width`` digits."""
    digits = pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string())
    if width:
        digits = pc.utf8_lpad(digits, width=width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def scramble48(values: np.ndarray, salt: int) -> np.ndarray:
    """A bijection on 48-bit integers: distinct inputs give distinct, random-looking outputs."""
    x = (np.asarray(values, dtype=np.uint64) + np.uint64(salt & 0xFFFFFFFF)) & _MASK48
    with np.errstate(over="ignore"):
        x = (x * np.uint64(0x9E3779B97F4B)) & _MASK48  # odd multiplier: invertible mod 2**48
        x ^= x >> np.uint64(21)
        x = (x * np.uint64(0xBF58476D1CE5)) & _MASK48
        x ^= x >> np.uint64(17)
    return x


def hex_ids(prefix: str, values: np.ndarray) -> pa.Array:
    """``prefix`` + 12 lower-case hex digits of each 48-bit value (device/cookie ids)."""
    x = np.asarray(values, dtype=np.uint64)
    shifts = np.arange(44, -1, -4, dtype=np.uint64)
    nibbles = ((x[:, None] >> shifts) & np.uint64(15)).astype(np.intp)
    raw = np.ascontiguousarray(_HEX[nibbles]).view("S12").ravel()
    return pc.binary_join_element_wise(prefix, pa.array(raw).cast(pa.string()), "")


def permute(values: np.ndarray, modulus: int, salt: int) -> np.ndarray:
    """A random-looking bijection on ``[0, modulus)``: distinct values stay distinct.

    Cycle-walking: a bijection on the enclosing power of two is applied again to any value
    that lands outside the range, until all are inside. Phone numbers and e-mail handles built
    from distinct user numbers therefore never collide.
    """
    bits = max(2, int(modulus - 1).bit_length())
    mask = np.uint64((1 << bits) - 1)
    half = np.uint64(max(1, bits // 2))
    x = np.asarray(values, dtype=np.uint64) % np.uint64(modulus)
    outside = np.ones(len(x), dtype=bool)
    while outside.any():
        y = x[outside]
        with np.errstate(over="ignore"):
            for k in range(3):
                y = (y + np.uint64((salt * 2654435761 + k * 97) & 0xFFFFFFFF)) & mask
                y = (y * np.uint64(0x2545F4914F6CDD1D | 1)) & mask  # odd: invertible
                y ^= y >> half
        x[outside] = y
        outside = x >= np.uint64(modulus)
    return x.astype(np.int64)
