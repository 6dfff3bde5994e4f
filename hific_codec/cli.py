"""Command line: ``nic encode | decode | enhance | info | plugins | bench``.

Every failure is one line on stderr (``nic: error: ...``) and a non-zero exit; outputs are written
to a temporary file and renamed, so a failed or killed run never leaves a partial file.
"""
from __future__ import annotations

import argparse
import io
import math
import sys
import time
from pathlib import Path

from .files import METADATA_KINDS, CLIError, Metadata, load_image, note, read_input, write_atomic

EXIT_ERROR = 1
EXIT_USAGE = 2


# Pillow's own default cap (about 89 Mpx): `nic decode` refuses larger images unless told otherwise
DEFAULT_MAX_PIXELS = 89_478_485


def _batch(a: argparse.Namespace, mode: str, engine: str = "local", manifest: str | None = None) -> None:
    from . import batch

    if not a.output:
        raise CLIError(f"{a.input} is a directory: give an output directory with -o")
    if Path(a.output).exists() and not Path(a.output).is_dir():
        raise CLIError(f"{a.output}: not a directory")
    opts = {"force": a.force}
    if mode == "decode":
        opts.update(max_pixels=getattr(a, "max_pixels", DEFAULT_MAX_PIXELS) or None,
                    decoder=getattr(a, "decoder", None), realism=getattr(a, "realism", None),
                    post=tuple(getattr(a, "post", None) or ()))
        if opts["post"]:
            from . import plugins

            for spec in opts["post"]:
                plugins.create(spec)  # an unknown plugin is an error before any file is decoded
    if mode == "encode":
        which = "none" if a.strip else a.metadata
        opts.update(quality=a.quality, bpp=a.bpp, psnr=getattr(a, "psnr", False), effort=a.effort, model=a.model,
                    metadata=which, target_psnr=getattr(a, "target_psnr", None), lossless=a.lossless,
                    device=a.device)
        if getattr(a, "time", None):
            opts.update(seconds=parse_duration(a.time), effort=max(3, opts["effort"]))
    try:
        tasks = batch.plan(a.input, a.output, mode, **opts)
    except (FileNotFoundError, OSError) as e:
        raise CLIError(str(e)) from None
    if not tasks:
        raise CLIError(f"{a.input}: no {'images' if mode == 'encode' else '.nic files'} found")
    try:
        records, seconds = batch.run(tasks, engine, a.jobs, getattr(a, "address", None))
    except RuntimeError as e:
        raise CLIError(str(e)) from None
    if manifest:
        batch.write_manifest(records, manifest)
    print(batch.summary(records, seconds), file=sys.stderr)
    if any(r.status == "failed" for r in records):
        raise BatchFailed()


class BatchFailed(Exception):
    """Some files failed; the summary already named them."""


def cmd_encode(a: argparse.Namespace) -> None:
    from . import api

    if a.input != "-" and Path(a.input).is_dir():
        return _batch(a, "encode")
    data = read_input(a.input)
    arr, meta = load_image(data, a.input)
    out = a.output or ("-" if a.input == "-" else str(Path(a.input).with_suffix(".nic")))
    t0 = time.perf_counter()
    seconds = parse_duration(a.time) if a.time else None
    if seconds is not None and a.effort < 3:
        a.effort = 3  # a time budget is what the overfitted levels spend
    bar = ProgressBar(a.input) if (a.effort >= 1 or a.lossless) and not a.quiet else None
    try:
        meta = meta.select("none" if a.strip else a.metadata)
        nic = api.encode(arr, a.quality, bpp=a.bpp, psnr=a.target_psnr, model=a.model, icc=meta.icc, exif=meta.exif,
                         xmp=meta.xmp,
                         effort=a.effort,
                         realism=a.realism, seconds=seconds, progress=bar, roi=parse_roi(a.roi),
                         roi_quality=a.roi_quality, aq=a.aq, lossless=a.lossless, device=a.device)
    finally:
        if bar is not None:
            bar.close()
    dt = time.perf_counter() - t0
    h, w = arr.shape[:2]
    if a.bpp is not None and len(nic) * 8 / (w * h) > a.bpp:
        got = len(nic) * 8 / (w * h)
        carried = "" if not meta.size else f" (with {meta.size} bytes of metadata: --strip drops it)"
        msg = f"{a.bpp:g} bpp cannot be met: the smallest file is {got:.4f} bpp{carried}"
        if a.strict:
            raise CLIError(msg + "; nothing written (--strict)")
        note(msg)
    reached = None
    if (a.target_psnr is not None or a.verbose) and not a.lossless:  # as cwebp -print_psnr, on the RGB coded
        from . import image_io

        reached = api._psnr_of(nic, image_io.to_rgb8(arr)[0])
    if a.target_psnr is not None and reached < a.target_psnr:
        msg = f"{a.target_psnr:g} dB cannot be met: quality 100 gives {reached:.2f} dB"
        if a.strict:
            raise CLIError(msg + "; nothing written (--strict)")
        note(msg)
    write_atomic(out, nic, a.force)
    q = "lossless" if a.lossless else f"quality {api.info(nic).quality:g}"
    extra = "" if reached is None or a.lossless else f", PSNR {reached:.2f} dB"
    print(f"{a.input} -> {out}: {w}x{h}, {len(nic)} bytes, {len(nic) * 8 / (w * h):.4f} bpp, "
          f"{q}{extra}, {dt:.2f} s", file=sys.stderr)


METADATA = ("all", *METADATA_KINDS, "none")


def parse_roi(spec: str | None):
    """--roi: 'x,y,w,h[,x,y,w,h...]' -> boxes, else the path of a mask image -> a grey array."""
    if spec is None:
        return None
    parts = spec.split(",")
    if len(parts) >= 4 and not Path(spec).exists():
        try:
            v = [int(p) for p in parts]
        except ValueError:
            raise CLIError(f"--roi {spec!r}: expected a mask image or x,y,w,h boxes") from None
        if len(v) % 4:
            raise CLIError(f"--roi {spec!r}: boxes take four numbers each (x,y,w,h)")
        return [tuple(v[k : k + 4]) for k in range(0, len(v), 4)]
    import numpy as np
    from PIL import Image

    try:
        with Image.open(spec) as im:
            return np.asarray(im.convert("L"))
    except FileNotFoundError:
        raise CLIError(f"--roi {spec}: no such file") from None
    except OSError as e:
        raise CLIError(f"--roi {spec}: not a readable mask image ({e})") from None


def parse_duration(text: str) -> float:
    """'90', '90s', '5m', '1.5h' -> seconds."""
    t = text.strip().lower()
    scale = {"s": 1, "m": 60, "h": 3600}.get(t[-1:])
    try:
        v = float(t[:-1] if scale else t) * (scale or 1)
    except ValueError:
        raise CLIError(f"--time {text!r}: expected seconds or a duration like 90s, 5m, 1h") from None
    if v <= 0:
        raise CLIError(f"--time {text!r}: must be positive")
    return v


class ProgressBar:
    """One status line on stderr for long (overfitted) encodes: iteration, rate estimate, PSNR."""

    def __init__(self, name: str):
        self.name, self.tty = name, sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, p) -> None:
        now = time.perf_counter()
        if not self.tty and now - self.last < 10 and p.iteration < p.iterations:
            return  # a log file gets a line every 10 s, a terminal a live line
        self.last = now
        width = 24
        done = int(width * p.iteration / max(1, p.iterations))
        fig = "" if math.isnan(p.bpp) else f"{p.bpp:.3f} bpp (latents) {p.psnr:.2f} dB "
        line = f"{self.name}: [{'#' * done}{'.' * (width - done)}] {p.iteration}/{p.iterations} {fig}{p.seconds:.0f} s"
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.tty and self.last:
            print(file=sys.stderr)


def cmd_decode(a: argparse.Namespace) -> None:
    import bitstream

    from . import api

    if a.input != "-" and Path(a.input).is_dir():
        return _batch(a, "decode")
    if a.post:
        from . import plugins

        for spec in a.post:
            plugins.create(spec)  # an unknown plugin is an error before any decoding
    out = a.output or ("-" if a.input == "-" else str(Path(a.input).with_suffix(".png")))
    fmt = _image_output(out, "decode")
    data = read_input(a.input)
    meta = bitstream.read(data, verify=not a.ignore_crc)
    t0 = time.perf_counter()
    arr = api.decode(data, decoder=a.decoder, realism=a.realism, verify=not a.ignore_crc, post=a.post,
                     max_pixels=a.max_pixels or None)
    dt = time.perf_counter() - t0
    which = api.realism_setting(meta, a.decoder, a.realism)
    which = "fidelity" if which is None else f"realism {which:g}"
    _save_image(arr, out, fmt, a.force, Metadata(meta.icc, meta.exif, meta.xmp))
    post = f" + {', '.join(a.post)}" if a.post else ""
    print(f"{a.input} -> {out}: {arr.shape[1]}x{arr.shape[0]}, {which} decoder{post}, {dt:.2f} s", file=sys.stderr)


def _image_output(out: str, verb: str) -> str:
    """The Pillow format name for an output path (``-``: PNG), or a CLIError."""
    from PIL import Image

    if out == "-" and sys.stdout.isatty():
        raise CLIError("refusing to write a binary image to the terminal: redirect it or give -o FILE")
    if Path(out).suffix.lower() == ".nic":
        raise CLIError(f"{out}: {verb} writes an image (.png, .tif, ...); to make a .nic file use nic encode")
    fmt = "PNG" if out == "-" else Image.registered_extensions().get(Path(out).suffix.lower())
    if fmt is None:
        raise CLIError(f"{out}: unknown image extension (use .png, .tif, .webp, .jpg, ...)")
    return fmt


def _save_image(arr, out: str, fmt: str, force: bool, meta: Metadata | None = None) -> None:
    from PIL import Image

    buf = io.BytesIO()
    try:
        Image.fromarray(arr).save(buf, format=fmt, **(meta or Metadata()).save_options(fmt, arr))
    except (KeyError, ValueError, OSError) as e:
        raise CLIError(f"{out}: cannot write this format ({e})") from None
    write_atomic(out, buf.getvalue(), force)


def cmd_enhance(a: argparse.Namespace) -> None:
    from . import plugins

    plugin = plugins.create("enhance:gan" if a.gan else "enhance")
    plugin.ensure_loaded()  # missing weights are reported before the image is read
    out = a.output or ("-" if a.input == "-" else str(Path(a.input).with_name(Path(a.input).stem + ".enhanced.png")))
    fmt = _image_output(out, "enhance")
    arr, meta = load_image(read_input(a.input), a.input)
    t0 = time.perf_counter()
    res = plugin(arr)
    dt = time.perf_counter() - t0
    _save_image(res, out, fmt, a.force, meta)
    print(f"{a.input} -> {out}: {res.shape[1]}x{res.shape[0]}, {plugin.weight_name}, {dt:.2f} s", file=sys.stderr)


def cmd_plugins(a: argparse.Namespace) -> None:
    from . import plugins

    table = plugins.available()
    width = max(map(len, table), default=0)
    for name, desc in table.items():
        print(f"{name:<{width}}  {desc}")


def cmd_info(a: argparse.Namespace) -> None:
    from . import api

    i = api.info(read_input(a.input))
    print(f"format      NIC {i.version[0]}.{i.version[1]}")
    if i.mode in ("overfitted", "lossless"):
        print(f"mode        {i.mode}: the file carries its own decoder ({i.weight_bytes} bytes of weights, "
              f"{i.macs_per_pixel} multiplications per pixel)")
    else:
        ctx = f" + context {i.context_hash}" if i.context_hash else ""
        print(f"model       {i.model} (id {i.model_id}, weights {i.weights_hash}{ctx})")
    print(f"size        {i.width}x{i.height}, {i.channels} channel(s)")
    qm = "" if i.quality_range is None else f" (quality map: {i.quality_range[0]:g} to {i.quality_range[1]:g})"
    print("quality     lossless" if i.mode == "lossless" else f"quality     {i.quality:g}{qm}")
    print(f"decoders    {', '.join(i.decoders)}" + ("" if i.realism is None else f" (suggested realism {i.realism:g})"))
    print(f"bytes       {i.bytes}")
    print(f"bpp         {i.bpp:.4f}")
    print("chunks      " + chunk_summary(i.chunks))


def chunk_summary(chunks: list[tuple[str, int]]) -> str:
    """``HEAD (18 B), YLAT x 6 (9120 B), ...``: repeated types counted, so a file of many chunks
    still prints one short line."""
    groups: dict[str, list[int]] = {}
    for t, n in chunks:
        groups.setdefault(t, []).append(n)
    return ", ".join(f"{t} ({ns[0]} B)" if len(ns) == 1 else f"{t} x {len(ns)} ({sum(ns)} B)" for t, ns in groups.items())


def cmd_dataset(a: argparse.Namespace) -> None:
    a.input, a.output = a.src, a.dst
    manifest = a.manifest or str(Path(a.dst) / "manifest.csv")
    Path(a.dst).mkdir(parents=True, exist_ok=True)
    _batch(a, a.mode, a.engine, manifest)


def cmd_bench(argv: list[str]) -> int:
    """`nic bench ...`: the harness with its own options; reports go to ./nic-bench/<dataset> unless
    --out says otherwise, so a run never replaces the reports a checkout ships."""
    try:
        from benchmarks.__main__ import main as bench_main
    except ImportError:
        raise CLIError("the benchmark harness is not installed (run from a source checkout)") from None
    return bench_main(argv, default_out=Path("nic-bench"))


def _coding_options(e: argparse.ArgumentParser, default_quality: float) -> None:
    """The options `encode` and `encode-dataset` share."""
    g = e.add_mutually_exclusive_group()
    g.add_argument("-q", "--quality", type=float, help=f"0..100, higher is better (default {default_quality:g})")
    g.add_argument("--bpp", type=float, help="target bits per pixel: highest quality not above it (a note on "
                   "stderr if even the lowest quality is above it)")
    g.add_argument("--lossless", action="store_true", help="decode to exactly the input pixels (8-bit grey, RGB, "
                   "RGBA; a pixel model fitted to the image: about 1.5 min per 768x512 image)")
    e.add_argument("--model", help="model name from the zoo (default: the shipped default)")
    e.add_argument("--effort", type=int, choices=[0, 1, 2, 3, 4, 5], default=0,
                   help="encoder effort: 1 or 2 refine the latents for this image (smaller files at the "
                   "same quality, same decoder; about 30 s or 90 s per 768x512 image on 2 cores); 3, 4, 5 "
                   "fit a decoder to this image (overfitted coding: about 4.5, 14, 42 min per 768x512 image)")
    e.add_argument("--time", metavar="DURATION", help="overfitted coding with this fitting budget "
                   "(e.g. 90s, 5m, 1h); implies --effort 3 unless a higher one is given")
    e.add_argument("--device", help="where overfitted coding (effort 3-5) fits: cpu (the default) or cuda[:N]; "
                   "the file does not depend on it beyond the fit's floating point")
    e.add_argument("--metadata", choices=METADATA, default="all",
                   help="what to carry from the source: all (ICC profile, EXIF and XMP, the default: without "
                   "the profile, wide-gamut photos show the wrong colours), icc, exif, xmp, or none")
    e.add_argument("--strip", action="store_true", help="the same as --metadata none")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .api import DEFAULT_QUALITY

    p = argparse.ArgumentParser(prog="nic", description="NIC learned image codec")
    p.add_argument("--version", action="version", version=f"nic {__version__}")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads for one file (default: all cores); "
                   "folder runs use --jobs processes instead")
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("encode", help="compress an image to .nic")
    e.add_argument("input", help="image file (PNG, JPEG, WebP, TIFF, ...), - for stdin, or a directory")
    e.add_argument("-o", "--output", help="output .nic (default: input with .nic; - for stdout); "
                   "for a directory input, the output directory")
    e.add_argument("-j", "--jobs", type=int, default=1, help="worker processes for a directory input")
    _coding_options(e, DEFAULT_QUALITY)
    e.add_argument("--psnr", dest="target_psnr", type=float, metavar="DB", help="target PSNR-RGB of the decoded "
                   "file: the lowest quality that reaches it (effort 0-2; a note on stderr where even quality 100 "
                   "does not)")
    e.add_argument("--strict", action="store_true", help="with --bpp or --psnr: fail, writing nothing, if the "
                   "target cannot be met")
    e.add_argument("--roi", metavar="MASK|X,Y,W,H,...", help="region of interest: a grey mask image (any size; "
                   "white = important) or pixel boxes x,y,w,h[,x,y,w,h...], coded at --roi-quality")
    e.add_argument("--roi-quality", type=float, metavar="Q", help="quality inside the region (default: the "
                   "outside quality + 30, at most 100); the outside follows -q or --bpp")
    e.add_argument("--aq", action="store_true", help="adaptive quality map from the image's texture (more bits on "
                   "flat areas, fewer on busy texture)")
    e.add_argument("--quiet", action="store_true", help="no progress line for long encodes")
    e.add_argument("-v", "--verbose", action="store_true", help="also decode the file written and print its PSNR")
    e.add_argument("--realism", type=float, metavar="0..1",
                   help="record a suggested realism-decoder setting in the file (decoders may use it)")
    e.add_argument("-f", "--force", action="store_true", help="overwrite an existing output")
    e.set_defaults(fn=cmd_encode)
    d = sub.add_parser("decode", help="decompress a .nic file")
    d.add_argument("input", help=".nic file, - for stdin, or a directory of .nic files")
    d.add_argument("-j", "--jobs", type=int, default=1, help="worker processes for a directory input")
    d.add_argument("-o", "--output", help="output image, format from the extension (default PNG; - for stdout)")
    d.add_argument("--decoder", choices=["fidelity", "realism"],
                   help="fidelity: MSE-trained; realism: GAN-trained, sharper at low rates "
                        "(default: the file's suggestion, else fidelity)")
    d.add_argument("--realism", type=float, metavar="0..1",
                   help="realism decoder's knob: 0 = fidelity output, 1 = full generator "
                        "(default: the file's suggestion, else 1)")
    d.add_argument("--ignore-crc", action="store_true", help="decode even if checksums fail (damaged files)")
    d.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N",
                   help=f"refuse images larger than N pixels (default {DEFAULT_MAX_PIXELS}, as Pillow; "
                        "0: only the format's own limit of 134 Mpx)")
    d.add_argument("--post", action="append", metavar="PLUGIN", help="post-process with a plugin "
                   "(name or name:arg, e.g. sr4, style:candy); repeat to chain; see `nic plugins`")
    d.add_argument("-f", "--force", action="store_true", help="overwrite an existing output")
    d.set_defaults(fn=cmd_decode)
    en = sub.add_parser("enhance", help="remove compression artifacts from a JPEG or other image")
    en.add_argument("input", help="image file (JPEG, PNG, ...) or - for stdin")
    en.add_argument("-o", "--output", help="output image, format from the extension "
                    "(default: INPUT.enhanced.png; - for stdout)")
    en.add_argument("--gan", action="store_true", help="the adversarially fine-tuned network: sharper texture, "
                    "lower PSNR")
    en.add_argument("-f", "--force", action="store_true", help="overwrite an existing output")
    en.set_defaults(fn=cmd_enhance)
    pl = sub.add_parser("plugins", help="list installed post-processing plugins")
    pl.set_defaults(fn=cmd_plugins)
    i = sub.add_parser("info", help="describe a .nic file")
    i.add_argument("input")
    i.set_defaults(fn=cmd_info)
    for mode in ("encode", "decode"):
        ds = sub.add_parser(f"{mode}-dataset", help=f"{mode} a directory tree or file list, resumable, with a manifest")
        ds.add_argument("src", help="directory (searched recursively) or a text file with one path per line")
        ds.add_argument("dst", help="output directory (mirrors the source layout)")
        ds.add_argument("--engine", choices=["local", "ray"], default="local")
        ds.add_argument("--address", help="Ray cluster address (default: start Ray locally)")
        ds.add_argument("-j", "--jobs", type=int, default=2, help="workers (local processes or Ray CPUs)")
        ds.add_argument("--manifest", help="manifest path, .csv or .parquet (default DST/manifest.csv)")
        ds.add_argument("-f", "--force", action="store_true", help="redo files whose output exists")
        if mode == "encode":
            _coding_options(ds, DEFAULT_QUALITY)
            ds.add_argument("--psnr", action="store_true", help="decode each file again and record its PSNR")
        ds.set_defaults(fn=cmd_dataset, mode=mode)
    # listed for the help; main() hands everything after `bench` to the harness's own parser
    sub.add_parser("bench", help="rate-distortion benchmark against classic codecs (nic bench --help)", add_help=False)
    return p


def main(argv: list[str] | None = None) -> int:
    from bitstream import FormatError

    argv = sys.argv[1:] if argv is None else argv
    bench = argv[:1] == ["bench"]
    args = None if bench else build_parser().parse_args(argv)
    try:
        if bench:
            return cmd_bench(argv[1:])
        if args.threads is not None:
            if args.threads < 1:
                raise CLIError(f"--threads must be at least 1, got {args.threads}")
            import torch

            torch.set_num_threads(args.threads)
        args.fn(args)
    except (CLIError, FormatError, ValueError) as e:
        print(f"nic: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except BatchFailed:
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("nic: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_ERROR
    except MemoryError:
        print("nic: error: out of memory", file=sys.stderr)
        return EXIT_ERROR
    except Exception as e:  # last line of defence: one line, never a traceback
        print(f"nic: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
