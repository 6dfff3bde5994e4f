"""Write docs/API.md, the Python API reference, from the code's own signatures and docstrings.

    .venv/bin/python -m tests.make_api_doc

`tests/test_docs.py` checks that the committed page is what this writes, so the reference
cannot drift from the code.
"""
from __future__ import annotations

import dataclasses
import inspect
import re
import textwrap
from pathlib import Path

PAGE = Path(__file__).resolve().parent.parent / "docs" / "API.md"


def _doc(obj) -> str:
    return textwrap.dedent(inspect.getdoc(obj) or "").strip()


def _function(qualname: str, fn) -> list[str]:
    sig = str(inspect.signature(fn)).replace("'", "")
    return [f"### `{qualname}{sig}`", "", _doc(fn), ""]


def _fields(cls) -> list[str]:
    """A dataclass's fields as a table, with the comment each carries in the source."""
    comments = {}
    for line in inspect.getsource(cls).splitlines():
        m = re.match(r"\s+(\w+):[^#]*#\s*(.*)$", line)
        if m:
            comments[m.group(1)] = m.group(2)
    rows = ["| field | type | meaning |", "|---|---|---|"]
    for f in dataclasses.fields(cls):
        t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        rows.append(f"| `{f.name}` | `{t}` | {comments.get(f.name, '')} |")
    return rows + [""]


def page() -> str:
    import hific_codec
    from hific_codec import pil_plugin, plugins

    out = ["# Python API", "", "Generated from the code by `python -m tests.make_api_doc` (a test keeps it current).",
           "", "## Coding", ""]
    for name in ("encode", "decode", "decode_batch", "info"):
        out += _function(f"hific_codec.{name}", getattr(hific_codec, name))
    out += ["### `hific_codec.Info`", "", _doc(hific_codec.Info), ""]
    out += _fields(hific_codec.Info)
    out += ["### `hific_codec.FormatError`", "", _doc(hific_codec.FormatError), ""]
    out += ["## Plugins", "", _doc(plugins), ""]
    for name in ("available", "create", "apply_chain"):
        out += _function(f"hific_codec.plugins.{name}", getattr(plugins, name))
    out += ["### `class hific_codec.plugins.Plugin`", "", _doc(plugins.Plugin), ""]
    for name in ("run", "output_size", "load", "__call__"):
        sig = str(inspect.signature(getattr(plugins.Plugin, name))).replace("'", "")
        out += [f"- `{name}{sig}`: {_doc(getattr(plugins.Plugin, name))}"]
    out += ["", "### `hific_codec.plugins.Latents`", "", _doc(plugins.Latents), ""] + _fields(plugins.Latents)
    out += ["## Pillow", "", _doc(pil_plugin), "",
            "Save options (anything else is refused): " + ", ".join(f"`{o}`" for o in sorted(pil_plugin.SAVE_OPTIONS)) +
            ".  They mean what `encode`'s arguments of the same names mean; `icc_profile`, `exif` and "
            "`xmp` default to the image's own.", ""]
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    PAGE.write_text(page())
    print(f"wrote {PAGE}")
