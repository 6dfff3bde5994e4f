"""Short mutation fuzzing of the parser and the full decoder: the only allowed failure is FormatError."""
import numpy as np
import pytest

import bitstream
import hific_codec
from bitstream import FormatError


def mutations(data: bytes, n: int, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        b = bytearray(data)
        kind = rng.integers(0, 5)
        if kind == 0:  # bit flips
            for _ in range(rng.integers(1, 4)):
                b[rng.integers(0, len(b))] ^= 1 << int(rng.integers(0, 8))
        elif kind == 1:  # truncation
            b = b[: rng.integers(0, len(b))]
        elif kind == 2:  # random bytes spliced in
            pos = rng.integers(0, len(b))
            b[pos:pos] = rng.integers(0, 256, size=rng.integers(1, 16), dtype=np.uint8).tobytes()
        elif kind == 3:  # absurd header fields (HEAD payload starts at byte 11)
            b[11 + rng.integers(0, 18)] = int(rng.integers(0, 256))
        else:  # chunk reordering: swap two chunks
            _, chunks = bitstream.unpack_chunks(bytes(b))
            i, j = rng.choice(len(chunks), 2, replace=False)
            chunks[i], chunks[j] = chunks[j], chunks[i]
            b = bytearray(bitstream.pack_chunks(chunks))
        yield bytes(b)


@pytest.fixture(scope="module")
def valid(crop):
    return hific_codec.encode(crop[:64, :96], 40)


def test_parser_rejects_mutants_cleanly(valid):
    for m in mutations(valid, 3000, 0):
        try:
            bitstream.read(m)
        except FormatError:
            pass


def test_decoder_rejects_or_decodes_mutants(valid):
    for m in mutations(valid, 60, 1):
        try:
            out = hific_codec.decode(m)
        except FormatError:
            continue
        assert out.dtype == np.uint8  # a mutant that still parses (e.g. an ancillary change) decodes


def test_salvage_decoding_of_mutants_never_crashes(valid):
    for m in mutations(valid, 40, 2):
        try:
            hific_codec.decode(m, verify=False)
        except FormatError:
            pass
