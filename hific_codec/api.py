"""Public Python API: ``encode(array) -> bytes`` and ``decode(bytes) -> array``."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import bitstream
from bitstream import FormatError, Header, NicFile
from bitstream.nicfile import OVERFIT_MODEL_ID, QMAP_UNIT

from . import image_io, qmap

DEFAULT_QUALITY = 65.0  # on the 0..100 scale: 0.63 bpp, 31.5 dB mean on Kodak with the default model (model 5)


def _model(name: str | None = None, model_id: int | None = None):
    from . import codec  # lazy: importing hific_codec must not pull in torch

    return codec, codec.load(name, model_id)


def encode(
    image: np.ndarray,
    quality: float | None = None,
    *,
    bpp: float | None = None,
    psnr: float | None = None,
    model: str | None = None,
    icc: bytes | None = None,
    exif: bytes | None = None,
    xmp: bytes | None = None,
    effort: int = 0,
    realism: float | None = None,
    seconds: float | None = None,
    progress=None,
    roi=None,
    roi_quality: float | None = None,
    aq: bool | float = False,
    lossless: bool = False,
    device: str | None = None,
) -> bytes:
    """Compress an image array to `.nic` bytes.

    ``quality`` (0..100, continuous, higher is better; default 65, `DEFAULT_QUALITY`) or ``bpp`` (target bits per
    pixel: the highest quality whose file does not exceed it, found by bisection) or ``psnr``
    (target PSNR-RGB in dB of the decoded file: the lowest quality that reaches it, by bisection
    on decoded files; quality 100 where none does).
    ``effort`` 0 (default), 1 or 2: spend encode time refining the latents for this image
    (hific_codec.refine; 50 or 150 steps, about 30 s or 90 s for 768x512 on 2 cores); the
    decoder and the format do not change.
    ``effort`` 3, 4 or 5: overfitted coding (hific_codec.overfit): a small decoder and latent
    grids are fitted to this image (600 / 2,000 / 6,000 iterations, for smooth images partly one
    octave down, or ``seconds`` of fitting)
    and the file carries them (format 1.5).  ``progress(p)`` (hific_codec.progress.Progress) is
    called every 10 iterations at effort 3-5 and every step at effort 1-2 (bpp and psnr nan
    there).  With ``bpp``, the fit steers its rate to the target; a file that still misses it is
    replaced by the effort-0 file at the target.
    ``realism`` (0..1): record a suggested realism-decoder setting in the file (chunk ``rlsm``);
    `decode` uses it when the caller names no decoder.  The latents are the same either way.
    ``roi``: a region of interest, a mask of any size (nonzero / white = important) or a list of
    (x, y, w, h) pixel boxes, coded at ``roi_quality`` (default: quality + 30, at most 100) while
    the rest follows ``quality`` or ``bpp`` (format 1.6, a quality map in the file).  ``aq``: an
    adaptive quality map from the image's own texture (True, or a strength; hific_codec.qmap).
    Both at effort 0.
    ``lossless=True``: the file decodes to exactly this array, bit for bit, on every machine
    (hific_codec.lossless: a pixel model fitted to the image and carried in the file, format
    1.7).  8-bit grey, RGB and RGBA; 16-bit arrays are refused rather than reduced.  No quality,
    target, effort, model, realism or quality map applies.
    ``device``: where an overfitted fit runs (``"cuda"``, ``"cuda:1"``; default the CPU); the
    coding after the fit, and every other effort, runs on the CPU.
    """
    if lossless:
        given = [n for n, v in (("quality", quality), ("bpp", bpp), ("psnr", psnr), ("model", model),
                                ("realism", realism), ("seconds", seconds), ("roi", roi), ("roi_quality", roi_quality),
                                ("device", None if device == "cpu" else device))
                 if v is not None] + (["effort"] if effort else []) + (["aq"] if aq else [])
        if given:
            raise ValueError(f"lossless coding takes no {', '.join(given)}")
        return _encode_lossless(image, (icc, exif, xmp), progress)
    if realism is not None and not 0 <= realism <= 1:
        raise ValueError(f"realism must be within 0..1, got {realism}")
    if sum(v is not None for v in (quality, bpp, psnr)) > 1:
        raise ValueError("give one of quality, bpp and psnr")
    if psnr is not None and not psnr > 0:
        raise ValueError(f"target psnr must be positive, got {psnr}")
    q = DEFAULT_QUALITY if quality is None else float(quality)
    if not 0 <= q <= 100:
        raise ValueError(f"quality must be within 0..100, got {q}")
    if bpp is not None and bpp <= 0:
        raise ValueError(f"target bpp must be positive, got {bpp}")
    rgb, channels, alpha = image_io.to_rgb8(image)
    qmaker = _quality_map(rgb, roi, roi_quality, aq)
    if qmaker is not None and effort != 0:
        raise ValueError("a region of interest or adaptive quantisation works at effort 0")
    if effort in OVERFIT_EFFORTS:
        if realism is not None or model is not None:
            raise ValueError("effort 3 and up write an overfitted file: it has its own decoder (no model or realism)")
        if psnr is not None:
            raise ValueError("a PSNR target works at effort 0-2")
        return _encode_overfit(rgb, channels, alpha, q, bpp, effort, (icc, exif, xmp), seconds, progress,
                               _fit_device(device))
    if device not in (None, "cpu"):
        raise ValueError("device applies to overfitted coding (effort 3 and up); effort 0-2 run on the CPU")
    if seconds is not None:
        raise ValueError("seconds is a budget for overfitted coding (effort 3 and up)")
    if effort not in (0, 1, 2):  # checked before the analysis transform runs
        raise ValueError(f"effort must be one of {[0, 1, 2, *OVERFIT_EFFORTS]}, got {effort}")
    enc = _np_encoder(model) if effort == 0 else None
    if enc is not None:  # effort 0 without torch: np_encoder is codec.analyse / codec.code's own code
        from . import np_encoder

        entry, version = enc.entry, enc.format_version
        np_analysis = np_encoder.analyse(enc.transforms, rgb)
        tiles = np_encoder.coding_tiles(rgb.shape[0], rgb.shape[1])

        def streams(q: float, qm):
            return np_encoder.encode_streams(enc, np_analysis, q, tiles, qm)
    else:
        codec, m = _model(model)
        from .refine import EFFORTS

        entry, version = m.entry, m.format_version
        analysis = codec.analyse(m, rgb)
        tiles = codec.coding_tiles(rgb.shape[0], rgb.shape[1])

        def streams(q: float, qm, refined: bool = False):
            a = analysis
            if refined:
                from .refine import refine

                a = refine(m, analysis, rgb, q, EFFORTS[effort], progress)
            return codec.code(m, a, q, tiles, qm)

    alpha_chunk = image_io.pack_alpha(alpha) if alpha is not None else None

    def build(q: float, refined: bool = False) -> bytes:
        q = round(q, 2) if qmaker is None else round(q * QMAP_UNIT) / QMAP_UNIT  # code exactly what is stored
        qm = None if qmaker is None else qmaker(q)
        z, ys = streams(q, qm, refined=True) if refined else streams(q, qm)
        header = Header(rgb.shape[1], rgb.shape[0], channels, entry.model_id, entry.short_hash, q)
        return bitstream.write(NicFile(header, z, ys, icc=icc, exif=exif, xmp=xmp, alpha=alpha_chunk, tiles=tiles,
                                       realism=realism, qmap=None if qm is None else qmap.to_bytes(qm)),
                               min_version=version)

    if psnr is not None:
        best = _search_psnr(build, psnr, rgb)
        if effort > 0:  # refine at the quality found; keep it where it still reaches the target
            better = build(bitstream.read(best).header.quality, refined=True)
            if _psnr_of(better, rgb) >= psnr:
                return _cheaper(m, rgb, best, better)
        return best
    if bpp is None:
        base = build(q)
        return _cheaper(m, rgb, base, build(q, refined=True)) if effort > 0 else base
    best = _search_bpp(build, bpp, rgb.shape[0] * rgb.shape[1])
    if effort > 0:  # refine once at the quality found; keep it only if it still meets the target
        q = bitstream.read(best).header.quality
        better = build(q, refined=True)
        if len(better) * 8 / (rgb.shape[0] * rgb.shape[1]) <= bpp:
            return _cheaper(m, rgb, best, better)
    return best


OVERFIT_EFFORTS = (3, 4, 5)


def _quality_map(rgb: np.ndarray, roi, roi_quality: float | None, aq: bool | float):
    """quality -> the file's quality map for these options, or None for a uniform file."""
    if roi is None and not aq:
        if roi_quality is not None:
            raise ValueError("roi_quality needs a roi")
        return None
    if roi is not None and aq:
        raise ValueError("give roi or aq, not both")
    if roi_quality is not None and not 0 <= roi_quality <= 100:
        raise ValueError(f"roi_quality must be within 0..100, got {roi_quality}")
    h, w = rgb.shape[:2]
    if aq:
        offsets = qmap.aq_offsets(rgb, qmap.AQ_STRENGTH if aq is True else float(aq))
        return lambda q: qmap.aq_map(offsets, q)
    if isinstance(roi, (list, tuple)):
        roi = qmap.boxes_mask([tuple(int(v) for v in b) for b in roi], h, w)
    cov = qmap.coverage(roi, h, w)
    if not cov.any():
        raise ValueError("the region of interest is empty (no nonzero mask pixel inside the image)")
    return lambda q: qmap.roi_map(cov, q, min(100.0, q + 30.0) if roi_quality is None else roi_quality)


def overfit_file(payload: bytes, width: int, height: int, quality: float, channels: int = 3,
                 alpha: np.ndarray | None = None, icc: bytes | None = None, exif: bytes | None = None,
                 xmp: bytes | None = None) -> bytes:
    """An OFIT payload (overfit.codec.Encoded.payload) in its .nic container."""
    header = Header(width, height, channels, OVERFIT_MODEL_ID, b"\0\0\0\0", round(quality, 2))
    alpha_chunk = image_io.pack_alpha(alpha) if alpha is not None else None
    return bitstream.write(NicFile(header, b"", (), icc=icc, exif=exif, xmp=xmp, alpha=alpha_chunk, overfit=payload))


def _encode_lossless(image, meta, progress) -> bytes:
    a = np.asarray(image)
    if a.dtype == np.uint16:
        raise ValueError("lossless coding keeps 8-bit samples only, and this image has 16 bits per sample: "
                         "it would not be lossless (convert it to 8 bits first if that is what you want)")
    rgb, channels, alpha = image_io.to_rgb8(a)  # the checks on dtype, shape and size
    planes = rgb[:, :, :1] if channels == 1 else rgb if alpha is None else np.dstack([rgb, alpha])
    from . import lossless

    payload = lossless.encode(planes, progress=progress)
    h, w = rgb.shape[:2]
    header = Header(w, h, channels, OVERFIT_MODEL_ID, b"\0\0\0\0", 100.0)
    icc, exif, xmp = meta
    return bitstream.write(NicFile(header, b"", (), icc=icc, exif=exif, xmp=xmp, lossless=payload))


def _fit_device(device: str | None) -> str:
    """The torch device for an overfitted fit, refused in one line where it does not exist."""
    import re

    if device in (None, "cpu"):
        return "cpu"
    if not re.fullmatch(r"cuda(:\d+)?", device):
        raise ValueError(f"device must be cpu or cuda[:N], got {device!r}")
    import torch

    if not torch.cuda.is_available():
        raise ValueError(f"device {device}: no CUDA device is available here")
    if int(device.partition(":")[2] or 0) >= torch.cuda.device_count():
        raise ValueError(f"device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


def _encode_overfit(rgb, channels, alpha, q, bpp, effort, meta, seconds, progress, device="cpu") -> bytes:
    from . import overfit

    if seconds is not None and seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    h, w = rgb.shape[:2]
    # the latents get what the target leaves after the network weights (~1 KB) and the container
    target = None if bpp is None else max(bpp * 0.5, bpp - 8 * 1100 / (h * w))
    r = overfit.encode(rgb, q, effort, seconds=seconds, target_bpp=target, progress=progress, device=device)
    icc, exif, xmp = meta
    data = overfit_file(r.payload, w, h, q, channels, alpha, icc, exif, xmp)
    if bpp is not None and len(data) * 8 / (h * w) > bpp:  # never above the target: the fast coder meets it
        arr = image_io.from_rgb8(rgb, channels, alpha)
        return encode(arr, bpp=bpp, icc=icc, exif=exif, xmp=xmp)
    return data


def _np_encoder(name: str | None):
    """The torch-free effort-0 encoder of a model (np_encoder), or None where its model decodes
    with the torch decoder only."""
    from . import np_encoder, zoo

    entry = zoo.get(name)
    return np_encoder.load(entry.name) if entry.family == "hyperprior" and np_encoder.supports(entry) else None


def _cheaper(m, rgb: np.ndarray, base: bytes, refined: bytes) -> bytes:
    """The file with the lower real rate-distortion cost (file bits + lambda x MSE of the decoded
    pixels).  Refinement optimises the model's estimate of that cost, which can miss (measured:
    model 4 on a 96x128 crop), so effort never makes a file worse than effort 0's."""
    def cost(data: bytes) -> float:
        p = _parse(*_read(data, True, None), decoder="fidelity")
        h = p.f.header
        px = p.codec.synthesise(m, p.y_hat, h.quality, h.height, h.width).astype(np.float64)
        mse = np.mean((px - rgb) ** 2) / 255.0**2
        return m.net.lmbda(m.t(h.quality)).item() * 255.0**2 * mse + len(data) * 8 / (h.height * h.width)

    return refined if cost(refined) < cost(base) else base


def _search_bpp(build, target: float, pixels: int, iters: int = 12) -> bytes:
    best = build(0.0)  # the smallest file we can make; returned if even it exceeds the target
    lo, hi = 0.0, 100.0
    top = build(hi)
    if len(top) * 8 / pixels <= target:
        return top
    for _ in range(iters):
        mid = (lo + hi) / 2
        data = build(mid)
        if len(data) * 8 / pixels <= target:
            lo, best = mid, data
        else:
            hi = mid
        if hi - lo < 0.02:
            break
    return best


def _psnr_of(data: bytes, rgb: np.ndarray) -> float:
    """PSNR-RGB of a file's default decoding against the RGB8 it was coded from."""
    out = image_io.to_rgb8(decode(data))[0]
    mse = np.mean((rgb.astype(np.float64) - out) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def _search_psnr(build, target: float, rgb: np.ndarray, iters: int = 10) -> bytes:
    """The lowest quality whose decoded file reaches ``target`` dB (PSNR rises with quality; the
    bisection keeps the best file found that reaches it), or quality 100's file."""
    top = build(100.0)
    if _psnr_of(top, rgb) < target:
        return top
    lo, hi, best = 0.0, 100.0, top
    low = build(lo)
    if _psnr_of(low, rgb) >= target:
        return low
    for _ in range(iters):
        mid = (lo + hi) / 2
        data = build(mid)
        if _psnr_of(data, rgb) >= target:
            hi, best = mid, data
        else:
            lo = mid
        if hi - lo < 0.2:
            break
    return best


@dataclass(frozen=True)
class Info:
    """What `info` returns: a file's header and layout, read without decoding."""

    version: tuple[int, int]  # the format version the file was written as (major, minor)
    width: int
    height: int
    channels: int  # 1 (grey), 3 (RGB) or 4 (RGBA): what decode returns
    quality: float  # the coded quality (0..100; 100 for lossless files)
    model: str  # the zoo name of the file's model, or "overfitted" / "lossless"
    weights_hash: str  # first 4 bytes of the weights' SHA-256, hex (zeros: the file carries its own)
    bytes: int  # file size
    bpp: float  # bits per pixel of the whole file
    chunks: list[tuple[str, int]]  # (type, payload bytes) of every chunk, in order
    decoders: tuple[str, ...] = ("fidelity",)  # the decoders this installation has for the file
    realism: float | None = None  # the encoder's suggested realism setting, if recorded
    model_id: int = 0  # HEAD's model id (0: the file carries its own decoder)
    context_hash: str | None = None  # the model's context weights (model 5 on), as this installation has them
    mode: str = "hyperprior"  # "overfitted" or "lossless": the file carries its own decoder
    macs_per_pixel: int | None = None  # overfitted, lossless: decoder multiplications per pixel
    weight_bytes: int | None = None  # overfitted, lossless: bytes spent on the decoder's weights
    icc: bytes | None = None  # the ICC profile the file carries (decode() returns pixels only)
    exif: bytes | None = None  # the EXIF block the file carries
    xmp: bytes | None = None  # the XMP packet the file carries
    quality_range: tuple[float, float] | None = None  # a quality map's lowest and highest quality (format 1.6)


def info(data: bytes) -> Info:
    """Describe a `.nic` file without decoding it (no torch needed)."""
    version, chunks = bitstream.unpack_chunks(data)
    f = bitstream.read(data)
    h = f.header
    if f.lossless is not None or f.overfit is not None:  # the file carries its own decoder
        from bitstream.lossless import LosslessPayload
        from bitstream.overfit import OverfitPayload

        mode, p = (("lossless", LosslessPayload.from_bytes(f.lossless)) if f.lossless is not None
                   else ("overfitted", OverfitPayload.from_bytes(f.overfit)))
        return Info(version, h.width, h.height, h.channels, h.quality, mode, h.weights_hash.hex(), len(data),
                    len(data) * 8 / (h.width * h.height), [(c.type, len(c.payload)) for c in chunks], ("fidelity",),
                    None, h.model_id, None, mode, p.macs_per_pixel(), len(p.weights), f.icc, f.exif, f.xmp)
    from . import zoo

    try:
        entry = zoo.get(model_id=h.model_id)
        name, ctx = entry.name, entry.context["sha256"][:8] if entry.context else None
        decoders = ("fidelity", "realism") if zoo.realism_for(entry) else ("fidelity",)
    except FormatError:
        name, ctx, decoders = f"unknown (id {h.model_id})", None, ()
    return Info(version, h.width, h.height, h.channels, h.quality, name, h.weights_hash.hex(), len(data),
                len(data) * 8 / (h.width * h.height), [(c.type, len(c.payload)) for c in chunks],
                decoders, f.realism, h.model_id, ctx, icc=f.icc, exif=f.exif, xmp=f.xmp,
                quality_range=None if f.qmap is None else (min(f.qmap) / QMAP_UNIT, max(f.qmap) / QMAP_UNIT))


@dataclass
class _Parsed:
    f: NicFile
    codec: object  # the codec module (imported lazily: torch)
    m: object  # codec.Model
    y_hat: object  # torch.Tensor (1, M, h, w)
    alpha: float | None  # the synthesis asked for: None (fidelity) or the realism knob
    plane: np.ndarray | None  # the file's alpha plane (RGBA files)
    delta: object = None  # bin-mean offsets, when the realism generator reads them
    qmap: np.ndarray | None = None  # the file's quality map (format 1.6), else None


def _read(data: bytes, verify: bool, max_pixels: int | None) -> tuple[NicFile, np.ndarray | None]:
    """Parse a file and run the checks every decoder needs before any work: the size cap, and the
    alpha plane, returned unpacked.  An alpha plane only means something in an RGBA file:
    elsewhere the ancillary chunk is skipped."""
    f = bitstream.read(bytes(data), verify=verify)
    h = f.header
    if max_pixels is not None and _work_pixels(h) > max_pixels:
        raise FormatError(f"image of {h.width}x{h.height} ({_work_pixels(h)} pixels padded) exceeds "
                          f"max_pixels={max_pixels}")
    plane = image_io.unpack_alpha(f.alpha, h.height, h.width) if f.alpha is not None and h.channels == 4 else None
    return f, plane


def _shipped_model(h: Header):
    """The zoo entry of a hyperprior file's model, refused in one line where this installation does
    not ship those weights."""
    from . import zoo

    entry = zoo.by_id(h.model_id)
    if entry is None:  # say which weights, which the zoo cannot see
        raise FormatError(f"file needs model id {h.model_id} (weights {h.weights_hash.hex()}), which this "
                          "installation no longer ships: decode it with the hific-codec version that wrote it")
    if h.weights_hash != entry.short_hash:
        raise FormatError(
            f"file was written with weights {h.weights_hash.hex()}, but model {entry.name!r} here has "
            f"{entry.short_hash.hex()}: install the hific-codec version that wrote it"
        )
    return entry


def _fidelity(f: NicFile):
    """A hyperprior file through the fidelity decoder without torch (np_decoder), or None where its
    model's synthesis form has only the torch decoder: (ŷ (1, M, h, w) float32, pixels (h, w, 3))."""
    from . import np_decoder

    h = f.header
    entry = _shipped_model(h)
    if not np_decoder.supports(entry):
        return None
    qm = None if f.qmap is None else qmap.from_bytes(f.qmap, h.height, h.width)
    return np_decoder.decode(h.model_id, h.height, h.width, h.quality, f.z_stream, f.y_streams, f.tiles, qm)


def _parse(f: NicFile, plane: np.ndarray | None, decoder: str | None = None,
           realism: float | None = None) -> _Parsed:
    """A hyperprior file's latents, decoded, with the model and the synthesis it asks for."""
    h = f.header
    _shipped_model(h)
    codec, m = _model(model_id=h.model_id)
    alpha = realism_setting(f, decoder, realism)
    want = bool(alpha) and m.reads_bin_mean  # δ costs decode time: only for a decoder that reads it
    got = codec.decode_latents(m, h.height, h.width, f.z_stream, f.y_streams, f.tiles, offsets=want)
    y_hat, delta = got if want else (got, None)
    qm = None if f.qmap is None else qmap.from_bytes(f.qmap, h.height, h.width)
    return _Parsed(f, codec, m, y_hat, alpha, plane, delta, qm)


def _work_pixels(h: Header) -> int:
    """Pixels the decoder processes: the image padded to the codec's 64-px unit (cost is linear in it)."""
    hp, wp = bitstream.tiles.padded_size(h.height, h.width)
    return hp * wp


def _finish(f: NicFile, rgb: np.ndarray, plane: np.ndarray | None) -> np.ndarray:
    return image_io.from_rgb8(rgb, f.header.channels, plane)


DECODERS = ("fidelity", "realism")


def realism_setting(f: NicFile, decoder: str | None, realism: float | None) -> float | None:
    """Which synthesis to run: None for the fidelity decoder, else the realism knob in [0, 1].

    No decoder named: ``realism`` given means the realism decoder at that setting; otherwise the
    file's suggestion (chunk ``rlsm``) if it has one, else the fidelity decoder.
    """
    if decoder is not None and decoder not in DECODERS:
        raise ValueError(f"decoder must be one of {', '.join(DECODERS)}, got {decoder!r}")
    if realism is not None and not 0 <= realism <= 1:
        raise ValueError(f"realism must be within 0..1, got {realism}")
    if decoder == "fidelity":
        if realism is not None:
            raise ValueError("realism applies to the realism decoder, not decoder='fidelity'")
        return None
    if realism is not None:
        return float(realism)
    if decoder == "realism":
        return 1.0 if f.realism is None else f.realism
    return f.realism


def decode(data: bytes, *, decoder: str | None = None, realism: float | None = None, verify: bool = True,
           max_pixels: int | None = None, post: list[str] | None = None) -> np.ndarray:
    """Decompress `.nic` bytes to an HxWx3 (RGB), HxW (grey) or HxWx4 (RGBA) uint8 array.

    ``decoder``: ``"fidelity"`` (the MSE-trained g_s) or ``"realism"`` (the GAN-trained generator);
    ``realism`` (0..1) sets the realism decoder's knob: 0 is the fidelity decoder's output, 1 the
    full generator (network interpolation in between); ``decoder="realism"`` alone uses the file's
    suggested setting, else 1.  With neither given, the file's suggestion is used if it has one,
    else the fidelity decoder.  Same bitstream for both.

    ``verify=False`` decodes damaged files where the damage allows (CRC failures in the latents).
    ``max_pixels`` refuses, before any work, images whose padded size (multiples of 64 px) exceeds
    it.  The format's own cap is 2**27 pixels; decode time and memory grow linearly with the padded
    pixel count (~2 µs per pixel on 2 cores), so services that open untrusted files should set it.
    ``post``: plugin specs applied in order after decoding (``["sr4"]``, ``["style:candy"]``; see
    `hific_codec.plugins.available()`); the first plugin also receives the decoded latents.
    """
    if post:
        from . import plugins

        chain = [plugins.create(s) for s in post]  # unknown specs and missing weights fail
        for p in chain:  # before any decoding work
            p.ensure_loaded()
    f, plane = _read(data, verify, max_pixels)
    if f.overfit is not None or f.lossless is not None:
        out = _decode_own(f, plane, decoder, realism)
        return plugins.apply_chain(out, chain, None) if post else out
    h = f.header
    fid = None if realism_setting(f, decoder, realism) else _fidelity(f)  # knob 0 is the fidelity decoder
    if fid is not None:
        y_hat, rgb = fid
        out = _finish(f, rgb, plane)
        if post:
            latents = plugins.Latents(y_hat[0], h.quality, _shipped_model(h).name)
            out = plugins.apply_chain(out, chain, latents)
        return out
    p = _parse(f, plane, decoder, realism)
    out = _finish(f, p.codec.synthesise(p.m, p.y_hat, h.quality, h.height, h.width, realism=p.alpha, delta=p.delta,
                                        qmap=p.qmap), plane)
    if post:
        out = plugins.apply_chain(out, chain, plugins.Latents(p.y_hat[0].numpy(), h.quality, p.m.entry.name))
    return out


def _decode_own(f: NicFile, plane: np.ndarray | None, decoder: str | None, realism: float | None) -> np.ndarray:
    """An overfitted or lossless file through its own decoder (the only one it has)."""
    kind = "a lossless" if f.lossless is not None else "an overfitted"
    if decoder == "realism" or realism is not None:
        raise FormatError(f"{kind} file has one decoder (its own): no realism decoder")
    if decoder is not None and decoder not in DECODERS:
        raise ValueError(f"decoder must be one of {', '.join(DECODERS)}, got {decoder!r}")
    h = f.header
    if f.lossless is not None:
        from . import lossless

        planes = lossless.decode(f.lossless, h.height, h.width, h.channels)
        return planes[:, :, 0] if h.channels == 1 else planes
    from . import overfit

    return _finish(f, overfit.decode(f.overfit, h.height, h.width), plane)


def decode_batch(files: list[bytes], *, decoder: str | None = None, realism: float | None = None,
                 verify: bool = True, max_pixels: int | None = None) -> list[np.ndarray]:
    """Decode several files.  The realism decoder runs its synthesis once per group of same-sized
    images; the fidelity decoder (numpy) takes them one by one.

    Pixels are identical to decoding each file alone (tested); batching only saves overhead.
    """
    out: list[np.ndarray | None] = [None] * len(files)
    read = [_read(d, verify, max_pixels) for d in files]
    for k, (f, plane) in enumerate(read):  # first: a decoder they do not have fails before other work
        if f.overfit is not None or f.lossless is not None:
            out[k] = _decode_own(f, plane, decoder, realism)
    for k, (f, plane) in enumerate(read):  # the fidelity decoder: one file at a time, as decode() runs it
        if out[k] is None and not realism_setting(f, decoder, realism):
            fid = _fidelity(f)
            if fid is not None:
                out[k] = _finish(f, fid[1], plane)
    parsed = {k: _parse(f, plane, decoder, realism) for k, (f, plane) in enumerate(read) if out[k] is None}
    groups: dict[tuple, list[int]] = {}
    for k, p in parsed.items():
        # a file with a quality map has gains of its own: it is synthesised alone
        alone = k if p.qmap is not None else None
        groups.setdefault((p.m.entry.name, p.f.header.height, p.f.header.width, p.alpha, alone), []).append(k)
    for (_, h, w, alpha, _), ks in groups.items():
        import torch

        first = parsed[ks[0]]
        y = torch.cat([parsed[k].y_hat for k in ks])
        delta = torch.cat([parsed[k].delta for k in ks]) if first.delta is not None else None
        qs = [parsed[k].f.header.quality for k in ks]
        rgbs = first.codec.synthesise(first.m, y, qs, h, w, realism=alpha, delta=delta) if first.qmap is None else \
            first.codec.synthesise(first.m, y, qs[0], h, w, realism=alpha, delta=delta, qmap=first.qmap)[None]
        for k, rgb in zip(ks, rgbs):
            out[k] = _finish(parsed[k].f, rgb, parsed[k].plane)
    return out

