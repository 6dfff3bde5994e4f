"""Many files at once: `nic encode DIR -o OUT --jobs N`, `nic encode-dataset SRC DST --engine ray`.

A job is a list of `Task`s (one source file -> one output file).  Each task runs alone and
returns a `Record`; a bad file becomes a ``failed`` record and the job goes on.  Outputs are
written atomically (temp file + rename), so a killed run leaves only whole files, and an existing
output is never overwritten without ``force``: if it is a valid file made with the same settings it
counts as done (a re-run resumes where the last one stopped), a valid one made with other settings
is redone, and anything else makes the task fail and name it.

Engines (hific_codec.engines): ``local`` (worker processes, the default) and ``ray`` (local mode,
or a cluster via ``address``); both run the same `run_task`, so their outputs are byte-identical.
"""
from __future__ import annotations

import csv
import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".gif"}


@dataclass(frozen=True)
class Task:
    src: str
    dst: str
    mode: str  # "encode" or "decode"
    quality: float | None = None
    bpp: float | None = None
    target_psnr: float | None = None  # encode: as `nic encode --psnr`
    force: bool = False
    psnr: bool = False  # encode: decode again and measure PSNR against the source
    max_pixels: int | None = None  # decode: refuse larger images (the CLI passes its default cap)
    effort: int = 0  # encode: 0-2 hyperprior, 3-5 overfitted
    lossless: bool = False  # encode: as `nic encode --lossless`
    seconds: float | None = None  # encode: overfitted fitting budget per file
    device: str | None = None  # encode: where overfitted fits run, as `nic encode --device`
    model: str | None = None  # encode: zoo model name (None: the default)
    metadata: str = "all"  # encode: all | icc | exif | xmp | none, as `nic encode --metadata`
    decoder: str | None = None  # decode: as `nic decode --decoder`
    realism: float | None = None  # decode: as `nic decode --realism`
    post: tuple[str, ...] = ()  # decode: plugins, as `nic decode --post`


@dataclass
class Record:
    src: str
    dst: str
    status: str  # ok | done-before | failed
    bytes: int = 0
    bpp: float = float("nan")
    psnr: float = float("nan")
    seconds: float = 0.0
    error: str = ""


def plan(src: str | Path, dst: str | Path, mode: str, **options) -> list[Task]:
    """Tasks for a directory tree (outputs mirror its layout) or a text file listing paths."""
    src, dst = Path(src), Path(dst)
    if src.is_dir():
        want = IMAGE_SUFFIXES if mode == "encode" else {".nic"}
        # everything with a wanted suffix that is not a directory: FIFOs, sockets and dangling links
        # become failed records with a reason instead of vanishing from the run
        files = sorted(p for p in src.rglob("*") if p.suffix.lower() in want and not p.is_dir())
        rel = [p.relative_to(src) for p in files]
    elif src.is_file():  # a list of paths, one per line
        files = [Path(line.strip()) for line in src.read_text().splitlines() if line.strip()]
        rel = [Path(p.name) for p in files]
    else:
        raise FileNotFoundError(f"{src}: no such file or directory")
    suffix = ".nic" if mode == "encode" else ".png"
    tasks = [Task(str(f), str(dst / r.with_suffix(suffix)), mode, **options) for f, r in zip(files, rel)]
    _refuse_collisions(tasks)
    return tasks


def _refuse_collisions(tasks: list[Task]) -> None:
    """Two sources that map to one output (a.png and a.jpg -> a.nic) would silently lose one."""
    seen: dict[str, str] = {}
    clashes = []
    for t in tasks:
        if t.dst in seen:
            clashes.append(f"{seen[t.dst]} and {t.src} -> {t.dst}")
        else:
            seen[t.dst] = t.src
    if clashes:
        more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
        raise ValueError(f"two inputs would write the same output: {clashes[0]}{more}; rename one or "
                         "encode them separately")


SETTINGS_KEY = "nic-decode"  # PNG text chunk of a decoded output: the decoder settings that made it


def _existing(task: Task) -> str:
    """An existing output: "same" (whole, every CRC, and made with this task's settings), "other"
    (whole, other settings: redone in place), or "invalid" (not ours to overwrite)."""
    data = Path(task.dst).read_bytes()
    if task.mode == "encode":
        import bitstream

        try:
            f = bitstream.read(data)  # every CRC checked
        except bitstream.FormatError:
            return "invalid"
        return "same" if _encoded_as_asked(task, f, data) else "other"
    import io

    from PIL import Image

    try:
        Image.open(io.BytesIO(data)).verify()
        text = getattr(Image.open(io.BytesIO(data)), "text", {})
    except Exception:  # any damage means "not done"
        return "invalid"
    return "same" if text.get(SETTINGS_KEY, decode_settings(Task("", "", "decode"))) == decode_settings(task) else "other"


def _encoded_as_asked(task: Task, f, data: bytes) -> bool:
    """A file's header against the task: the coding mode (overfitted or not), the model, and the
    quality, or for a rate target a size at most the target and not far below it, or for a PSNR
    target a decoded PSNR at least the target.  (Effort 1-2 and the kept metadata are not
    recorded in a file: a change of those alone is not seen.)"""
    size = len(data)
    from bitstream.nicfile import OVERFIT_MODEL_ID

    from .api import DEFAULT_QUALITY

    h = f.header
    if (f.lossless is not None) != task.lossless:
        return False
    if task.lossless:
        return True
    if (h.model_id == OVERFIT_MODEL_ID) != (task.effort >= 3):
        return False
    if task.effort < 3:
        from . import zoo

        try:
            if zoo.get(task.model).model_id != h.model_id:
                return False
        except Exception:  # an unknown model fails in the task itself
            return False
    if task.bpp is not None:
        bpp = size * 8 / (h.width * h.height)
        return 0.8 * task.bpp <= bpp <= task.bpp
    if task.target_psnr is not None:
        from . import image_io
        from .api import _psnr_of
        from .files import load_image

        arr = load_image(Path(task.src).read_bytes(), task.src)[0]
        return _psnr_of(data, image_io.to_rgb8(arr)[0]) >= task.target_psnr
    return h.quality == round(DEFAULT_QUALITY if task.quality is None else task.quality, 2)


def decode_settings(task: Task) -> str:
    """The text a decoded PNG carries under SETTINGS_KEY, so a re-run with others redoes it."""
    parts = [task.decoder or "default"] + ([f"realism={task.realism:g}"] if task.realism is not None else [])
    return " ".join(parts + [f"post={p}" for p in task.post])


def run_task(task: Task) -> Record:
    """Process one file; never raises (errors become a failed record)."""
    from .files import CLIError, load_image, write_atomic

    t0 = time.perf_counter()
    rec = Record(task.src, task.dst, "ok")
    try:
        _check_source(Path(task.src))
        if Path(task.dst).exists() and not task.force:
            state = _existing(task)
            if state == "same":
                rec.status, rec.bytes = "done-before", Path(task.dst).stat().st_size
                return rec
            if state == "invalid":
                raise CLIError(f"{task.dst} exists and is not a valid output (use --force to overwrite)")
            task = dataclasses.replace(task, force=True)  # our own output, made with other settings
        Path(task.dst).parent.mkdir(parents=True, exist_ok=True)
        if task.mode == "encode":
            _encode(task, rec, load_image, write_atomic)
        else:
            _decode(task, rec, write_atomic)
    except Exception as e:  # one bad file must not stop thousands
        rec.status = "failed"
        rec.error = str(e) if isinstance(e, (CLIError, ValueError)) else f"{type(e).__name__}: {e}"
    rec.seconds = time.perf_counter() - t0
    return rec


def _check_source(p: Path) -> None:
    from .files import CLIError

    if p.is_symlink() and not p.exists():
        raise CLIError(f"{p}: dangling symbolic link")
    if p.exists() and not p.is_file():  # reading a FIFO would block the worker for ever
        kind = "FIFO" if p.is_fifo() else "socket" if p.is_socket() else "device" if p.is_char_device() or p.is_block_device() else "not a regular file"
        raise CLIError(f"{p}: not a regular file ({kind})")


def _encode(task: Task, rec: Record, load_image, write_atomic) -> None:
    from . import api, image_io

    arr, meta = load_image(Path(task.src).read_bytes(), task.src)
    meta = meta.select(task.metadata)
    data = api.encode(arr, task.quality, bpp=task.bpp, psnr=task.target_psnr, icc=meta.icc, exif=meta.exif, xmp=meta.xmp,
                      effort=task.effort, seconds=task.seconds, device=task.device,
                      model=task.model, lossless=task.lossless)
    write_atomic(task.dst, data, task.force)
    rec.bytes = len(data)
    rec.bpp = len(data) * 8 / (arr.shape[0] * arr.shape[1])
    if task.psnr:  # on the RGB8 the codec saw (16-bit and grey inputs normalised as for coding)
        rec.psnr = api._psnr_of(data, image_io.to_rgb8(arr)[0])


def _decode(task: Task, rec: Record, write_atomic) -> None:
    import io

    from PIL import Image, PngImagePlugin

    from . import api

    data = Path(task.src).read_bytes()
    arr = api.decode(data, max_pixels=task.max_pixels, decoder=task.decoder, realism=task.realism,
                     post=list(task.post) or None)
    buf = io.BytesIO()
    text = PngImagePlugin.PngInfo()
    text.add_text(SETTINGS_KEY, decode_settings(task))
    Image.fromarray(arr).save(buf, format="PNG", pnginfo=text)
    write_atomic(task.dst, buf.getvalue(), task.force)
    rec.bytes = len(data)
    rec.bpp = len(data) * 8 / (arr.shape[0] * arr.shape[1])


def run(tasks: list[Task], engine: str = "local", jobs: int = 1, address: str | None = None, quiet: bool = False):
    """Run a job on an engine (hific_codec.engines), printing progress to stderr.

    Returns (records in completion order, wall seconds)."""
    from . import engines

    t0 = time.perf_counter()
    records = []
    for _, r in engines.imap(run_task, [(t,) for t in tasks], engine, jobs, address):
        records.append(r)
        if not quiet:
            mark = {"ok": "", "done-before": " (done before)"}.get(r.status, f" FAILED: {_why(r)}")
            print(f"[{len(records)}/{len(tasks)}] {r.src}{mark}", file=sys.stderr)
    return records, time.perf_counter() - t0


def write_manifest(records: list[Record], path: str | Path) -> None:
    """CSV, or Parquet when the path ends in .parquet (needs pyarrow)."""
    path = Path(path)
    rows = [dataclasses.asdict(r) for r in sorted(records, key=lambda r: r.src)]
    fields = [f.name for f in dataclasses.fields(Record)]
    if path.suffix == ".parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise RuntimeError("Parquet manifests need pyarrow (pip install pyarrow), or use a .csv path") from None
        pq.write_table(pa.Table.from_pylist(rows), path)
        return
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def summary(records: list[Record], seconds: float) -> str:
    ok = sum(r.status == "ok" for r in records)
    before = sum(r.status == "done-before" for r in records)
    failed = [r for r in records if r.status == "failed"]
    lines = [(f"{ok} done, {before} already done, {len(failed)} failed in {seconds:.1f} s "
             f"({ok / seconds if seconds > 0 else 0:.2f} images/s)")]
    lines += [f"  failed: {r.src}: {_why(r)}" for r in failed]
    return "\n".join(lines)


def _why(r: Record) -> str:
    """The error without a leading copy of the file name (CLI errors start with it)."""
    return r.error[len(r.src) + 2 :] if r.error.startswith(r.src + ": ") else r.error
