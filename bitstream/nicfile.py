"""A whole `.nic` file as a typed object: header, latent streams and optional metadata.

Chunk order: HEAD, [TILE], ZLAT, YLAT x (number of tiles), then ancillary chunks; or, for an
overfitted file (1.5), HEAD, OFIT (the file's own decoder and latents), then ancillary chunks; or,
for a lossless file (1.7), HEAD, PIXL (its own pixel model and every plane, alpha included), then
ancillary chunks.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from .container import ChecksumError, Chunk, FormatError, UnsupportedError, pack_chunks, unpack_chunks
from .header import Header
from .overfit import latent_order
from .tiles import TileGrid, padded_size

KNOWN_CRITICAL = ("HEAD", "TILE", "QMAP", "ZLAT", "YLAT", "OFIT", "PIXL")
ANCILLARY = {"iccp": "icc", "exif": "exif", "xmpd": "xmp", "alph": "alpha"}
REALISM, REALISM_SCALE = "rlsm", 10000  # u16: suggested realism x 10000
# ICC profiles and XMP packets may instead travel as one zlib stream, where that is smaller; more
# than 16 MiB inflated is not read
ZLIB_FORM, MAX_INFLATED = {"iccp": "iccz", "xmpd": "xmpz"}, 1 << 24
# A file is written with the lowest version that can read it: 1.1 added tiles; 1.2 marks files of
# models whose decoder evaluates g_s in sub-pixel form (model 4 on), which a 1.1 decoder would not;
# 1.3 marks files whose latents are coded in two checkerboard passes (model 5 on); 1.4 files whose
# checkerboard passes are further split into channel slices (model 8 on).
# 1.5 adds overfitted files (chunk OFIT, model id OVERFIT_MODEL_ID in HEAD); 1.6 quality maps
# (chunk QMAP: a quality per latent, so the rate varies across the image); 1.7 lossless files
# (chunk PIXL, model id OVERFIT_MODEL_ID: like an overfitted file, it carries its own model); 1.8
# overfitted files whose latent grids are coded interleaved (flagged in OFIT's first byte).
V1_0, V1_1, V1_2, V1_3, V1_4, V1_5, V1_6, V1_7 = (1, 0), (1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (1, 6), (1, 7)
V1_8 = (1, 8)
QMAP_UNIT, QMAP_MAX = 2, 200  # QMAP entries are qualities in half steps: 0..200 for 0..100
LATENT_STRIDE = 16  # pixels per latent of the hyperprior's y grid (of the padded image)
OVERFIT_MODEL_ID = 0  # HEAD's model id of a file that carries its own decoder (OFIT or PIXL)


@dataclass(frozen=True)
class NicFile:
    header: Header
    z_stream: bytes  # range-coded hyper-latents
    y_streams: tuple[bytes, ...]  # range-coded latents, one stream per tile in raster order
    icc: bytes | None = None  # ICC profile, carried through untouched
    exif: bytes | None = None  # EXIF block, carried through untouched
    xmp: bytes | None = None  # XMP packet (UTF-8 XML), carried through untouched
    alpha: bytes | None = None  # zlib-compressed 8-bit alpha plane (lossless), RGBA inputs only
    tiles: TileGrid | None = None  # None: one tile, the whole image (all a 1.0 file can hold)
    realism: float | None = None  # the encoder's suggested realism-decoder setting, 0..1 (chunk rlsm)
    overfit: bytes | None = None  # OFIT payload (bitstream.overfit); then no z/y streams and no tiles
    qmap: bytes | None = None  # 1.6: one u8 per latent (qmap_shape), quality x QMAP_UNIT; None: uniform
    lossless: bytes | None = None  # 1.7: PIXL payload (bitstream.lossless); then nothing else is coded

    def __post_init__(self) -> None:
        if isinstance(self.y_streams, (bytes, bytearray)):
            object.__setattr__(self, "y_streams", (bytes(self.y_streams),))
        if self.lossless is not None:
            if self.overfit is not None or self.header.model_id != OVERFIT_MODEL_ID:
                raise FormatError(f"a PIXL chunk goes with model id {OVERFIT_MODEL_ID} and no OFIT chunk")
            if self.z_stream or self.y_streams or self.tiles is not None or self.qmap is not None:
                raise FormatError("a lossless file has no ZLAT, YLAT, TILE or QMAP chunk")
            if self.realism is not None or self.alpha is not None:
                raise FormatError("a lossless file codes alpha in PIXL and has one decoder: no alph or rlsm")
            return
        if self.overfit is not None or self.header.model_id == OVERFIT_MODEL_ID:
            if self.overfit is None or self.header.model_id != OVERFIT_MODEL_ID:
                raise FormatError(f"an OFIT chunk goes with model id {OVERFIT_MODEL_ID}, and only with it")
            if self.z_stream or self.y_streams or self.tiles is not None:
                raise FormatError("an overfitted file has no ZLAT, YLAT or TILE chunk")
            if self.realism is not None:
                raise FormatError("an overfitted file has one decoder: no realism suggestion")
            if self.qmap is not None:
                raise FormatError("an overfitted file has no quality map")
            return
        if self.qmap is not None:
            shape = qmap_shape(self.header.height, self.header.width)
            if len(self.qmap) != shape[0] * shape[1]:
                raise FormatError(f"quality map of {len(self.qmap)} entries for a {shape[0]}x{shape[1]} latent grid")
            if max(self.qmap) > QMAP_MAX:
                raise FormatError(f"quality map entry {max(self.qmap)} above {QMAP_MAX}")
        want = 1 if self.tiles is None else self.tiles.count(self.header.width, self.header.height)
        if len(self.y_streams) != want:
            raise FormatError(f"{len(self.y_streams)} latent stream(s) for {want} tile(s)")
        if self.realism is not None and not 0 <= self.realism <= 1:
            raise FormatError(f"suggested realism {self.realism} outside 0..1")


def qmap_shape(height: int, width: int) -> tuple[int, int]:
    """The hyperprior's latent grid for an image: one quality-map entry per latent."""
    hp, wp = padded_size(height, width)
    return hp // LATENT_STRIDE, wp // LATENT_STRIDE


def write(f: NicFile, min_version: tuple[int, int] = V1_0) -> bytes:
    """Serialise; ``min_version`` is the lowest version whose decoders render the file's model."""
    chunks = [Chunk("HEAD", f.header.to_bytes())]
    if f.lossless is not None:  # NicFile has checked it comes alone
        chunks.append(Chunk("PIXL", f.lossless))
    elif f.overfit is not None:  # NicFile has checked it comes without tiles, streams or rlsm
        chunks.append(Chunk("OFIT", f.overfit))
    else:
        if f.tiles is not None:
            chunks.append(Chunk("TILE", f.tiles.to_bytes()))
        if f.qmap is not None:
            chunks.append(Chunk("QMAP", zlib.compress(f.qmap, 9)))
        chunks += [Chunk("ZLAT", f.z_stream)] + [Chunk("YLAT", y) for y in f.y_streams]
    for t, a in ANCILLARY.items():
        v = getattr(f, a)
        if v is None:
            continue
        if t in ZLIB_FORM:  # profiles compress to about a third, XML more; PNG's iCCP is always compressed
            z = zlib.compress(v, 9)
            t, v = (ZLIB_FORM[t], z) if len(z) < len(v) else (t, v)
        chunks.append(Chunk(t, v))
    if f.realism is not None:
        chunks.append(Chunk(REALISM, struct.pack(">H", round(f.realism * REALISM_SCALE))))
    if f.lossless is not None:
        needs = V1_7
    elif f.overfit is not None:
        needs = V1_8 if latent_order(f.overfit) else V1_5
    else:
        needs = V1_6 if f.qmap is not None else V1_0 if f.tiles is None else V1_1
    return pack_chunks(chunks, max(min_version, needs))


def read(data: bytes, *, verify: bool = True) -> NicFile:
    """Parse and validate a file.  ``verify=False`` tolerates damaged latent/metadata chunks (the
    decoded image shows the damage); the header and tile layout must still be intact, since sizes
    come from them."""
    version, chunks = unpack_chunks(data, verify=verify)
    pos = 0

    def take(kind: str, required: bool = True) -> Chunk | None:
        nonlocal pos
        if pos < len(chunks) and chunks[pos].type == kind:
            pos += 1
            c = chunks[pos - 1]
            if kind in ("HEAD", "TILE") and not c.crc_ok:
                raise ChecksumError(kind, c.offset)
            return c
        if required:
            got = chunks[pos].type if pos < len(chunks) else "end of file"
            if pos >= len(chunks) or not chunks[pos].critical or chunks[pos].type in KNOWN_CRITICAL:
                raise FormatError(f"expected chunk {kind}, found {got}: file truncated or chunks out of order")
            raise UnsupportedError(f"unknown critical chunk {got!r}: written by a newer encoder?")
        return None

    header = Header.from_bytes(take("HEAD").payload)
    if header.model_id == OVERFIT_MODEL_ID:
        if version < V1_5:
            raise FormatError(f"model id {OVERFIT_MODEL_ID} (overfitted) in a version {version[0]}.{version[1]} file")
        if pos < len(chunks) and chunks[pos].type == "PIXL":
            if version < V1_7:
                raise FormatError(f"PIXL chunk in a version {version[0]}.{version[1]} file")
            pixl = take("PIXL")
            if not pixl.crc_ok:  # a lossless file is exact or refused: never decoded from damage
                raise ChecksumError("PIXL", pixl.offset)
            extra = _ancillary(chunks[pos:])
            extra["alpha"] = None  # alpha is a PIXL plane: a stray alph chunk is skipped, like any
            return NicFile(header, b"", (), lossless=pixl.payload, **extra)  # NicFile refuses an rlsm
        ofit = take("OFIT").payload
        if latent_order(ofit) and version < V1_8:
            raise FormatError(f"OFIT with interleaved latents in a version {version[0]}.{version[1]} file")
        return NicFile(header, b"", (), overfit=ofit, **_ancillary(chunks[pos:]))  # NicFile refuses an rlsm
    tile_chunk = take("TILE", required=False)
    if tile_chunk is not None and version < V1_1:
        raise FormatError(f"TILE chunk in a version {version[0]}.{version[1]} file")
    tiles = TileGrid.from_bytes(tile_chunk.payload) if tile_chunk is not None else None
    qmap_chunk = take("QMAP", required=False)
    qmap = None
    if qmap_chunk is not None:
        if version < V1_6:
            raise FormatError(f"QMAP chunk in a version {version[0]}.{version[1]} file")
        if not qmap_chunk.crc_ok:  # every latent's scale depends on it: never decoded from a damaged map
            raise ChecksumError("QMAP", qmap_chunk.offset)
        n = qmap_shape(header.height, header.width)
        qmap = _inflate(qmap_chunk.payload, n[0] * n[1])
        if qmap is None:
            raise FormatError("QMAP chunk is damaged or larger than the latent grid")
    z = take("ZLAT").payload
    n = 1 if tiles is None else tiles.count(header.width, header.height)
    ys = tuple(take("YLAT").payload for _ in range(n))
    return NicFile(header, z, ys, tiles=tiles, qmap=qmap, **_ancillary(chunks[pos:]))


def _ancillary(chunks) -> dict:
    found: dict[str, bytes] = {}
    for c in chunks:
        if c.type in KNOWN_CRITICAL:
            raise FormatError(f"unexpected {c.type} chunk after the latents")
        if c.critical:
            raise UnsupportedError(f"unknown critical chunk {c.type!r}: written by a newer encoder?")
        plain = next((t for t, z in ZLIB_FORM.items() if z == c.type), None)
        if plain is not None and c.crc_ok and plain not in found:
            v = _inflate(c.payload, MAX_INFLATED)
            if v is not None:
                found[plain] = v
        elif (c.type in ANCILLARY or (c.type == REALISM and c.crc_ok)) and c.type not in found:
            found[c.type] = c.payload  # unknown or repeated ancillary chunks are skipped
    extra = {a: found.get(t) for t, a in ANCILLARY.items()}
    return dict(realism=_realism(found.get(REALISM)), **extra)


def _inflate(payload: bytes, limit: int) -> bytes | None:
    """A zlib stream's contents, or None if it is damaged or would exceed ``limit`` bytes (an
    ancillary chunk that cannot be read is skipped, never trusted)."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(payload, limit + 1)
    except zlib.error:
        return None
    return out if len(out) <= limit and d.eof and not d.unconsumed_tail else None


def _realism(payload: bytes | None) -> float | None:
    """A malformed suggestion is ignored, like any damaged ancillary chunk: it only sets a default."""
    if payload is None or len(payload) != 2:
        return None
    v = struct.unpack(">H", payload)[0]
    return v / REALISM_SCALE if v <= REALISM_SCALE else None

