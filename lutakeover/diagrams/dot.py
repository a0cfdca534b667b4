"""Graphviz plumbing shared by every diagram: colours by component, HTML-like tables,
and writing a DOT source as DOT, SVG or PNG chosen by the file's extension.

DOT is built with the ``graphviz`` package. Rendering uses a system ``dot`` when one is on
PATH, and otherwise the Graphviz engine that pygraphviz's wheel carries, so SVG and PNG work
after ``pip install`` alone. Every diagram sorts its nodes and edges before it adds them, so
the same model gives a byte-identical DOT source.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import graphviz

from model.labels import Component

FORMATS = {".dot": "dot", ".gv": "dot", ".svg": "svg", ".png": "png"}

FONT = "Helvetica"

# One colour per kind of component, the same in every diagram (and in the legend).
ROLE_COLOURS: dict[str, str] = {
    "host": "#1f77b4",
    "path controller": "#9467bd",
    "management utility": "#7f7f7f",
    "source controller": "#d62728",
    "destination controller": "#2ca02c",
    "backup controller": "#ff7f0e",
    "backup host": "#8c564b",
    "mirroring": "#17becf",
    "disk": "#444444",
}

HIGHLIGHT = "#e00000"  # a counterexample's edges and its violating state
CHANGED = "#ffe08a"  # a table cell a step changed


class DiagramError(Exception):
    """A diagram that cannot be drawn as asked (too large, nothing to draw, bad format)."""


def digraph(name: str, title: str, **attrs: str) -> graphviz.Digraph:
    """A directed graph with its title on top and the diagrams' common font; ``attrs`` are
    graph attributes (rankdir, nodesep, ...)."""
    g = graphviz.Digraph(name)
    g.attr(label=title, labelloc="t", fontname=FONT, fontsize="16", **attrs)
    g.attr("node", fontname=FONT)
    g.attr("edge", fontname=FONT)
    return g


# Controllers in sequence diagrams and table figures, by number.
CONTROLLER_COLOURS = ("#d62728", "#2ca02c", "#ff7f0e", "#e377c2", "#bcbd22", "#8c564b")


def role_colour(role: str | Component) -> str:
    """The colour of a role (``source controller``) or a component: a controller by its
    number, every host the host colour, anything else by its kind, else black."""
    if isinstance(role, Component):
        if role.kind == "controller" and role.number is not None:
            return CONTROLLER_COLOURS[role.number % len(CONTROLLER_COLOURS)]
        role = role.kind
    return ROLE_COLOURS.get(role, "#000000")


def esc(text: str) -> str:
    """Text for an HTML-like label."""
    return html.escape(text, quote=True)


def html_table(
    header: list[str],
    rows: list[list[str]],
    *,
    title: str = "",
    changed: set[tuple[int, int]] | None = None,
    title_colour: str = "#333333",
) -> str:
    """An HTML-like table (for inside a ``<...>`` label) with a title row and a header row;
    the cells ``(row, column)`` in ``changed`` are shaded."""
    changed = changed or set()
    span = len(header)
    parts = ['<table border="0" cellborder="1" cellspacing="0" cellpadding="3">']
    if title:
        parts.append(
            f'<tr><td colspan="{span}" bgcolor="{title_colour}"><font color="white"><b>{esc(title)}'
            "</b></font></td></tr>"
        )
    parts.append("<tr>" + "".join(f'<td bgcolor="#eeeeee"><b>{esc(h)}</b></td>' for h in header) + "</tr>")
    for r, row in enumerate(rows):
        cells = []
        for c, value in enumerate(row):
            shade = f' bgcolor="{CHANGED}"' if (r, c) in changed else ""
            cells.append(f"<td{shade}>{esc(value)}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table>")
    return "".join(parts)


def format_of(path: str | Path) -> str:
    """The output format a file name asks for, or DiagramError naming the ones known."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        known = ", ".join(sorted(FORMATS))
        raise DiagramError(
            f"{path}: unknown diagram format {suffix or '(no extension)'!r}; use one of {known}"
        )
    return FORMATS[suffix]


def source_digest(source: str) -> str:
    """A short digest of a DOT source, stamped into the SVGs under docs/ to find stale ones."""
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def render(source: str, fmt: str) -> bytes:
    """``source`` laid out by dot and rendered as ``fmt`` (svg or png)."""
    if fmt == "dot":
        return source.encode()
    dot = shutil.which("dot")
    if dot is not None:
        done = subprocess.run([dot, f"-T{fmt}"], input=source.encode(), capture_output=True, check=False)
        if done.returncode != 0:
            raise DiagramError(f"dot failed: {done.stderr.decode(errors='replace').strip()}")
        return done.stdout
    try:
        import pygraphviz
    except ImportError:
        raise DiagramError(
            "no Graphviz engine: install pygraphviz (`pip install pygraphviz`) or Graphviz's `dot`, "
            "or write a .dot file"
        ) from None
    with _captured_stderr() as messages:
        try:
            data = pygraphviz.AGraph(string=source).draw(format=fmt, prog="dot")
        except Exception as e:  # pygraphviz raises bare Exceptions, or ValueError, or IOError
            data = b""
            messages.append(str(e))
    errors = [line for line in messages if line.strip() and not line.startswith("Fontconfig warning")]
    if not data or any(line.startswith("Error") for line in errors):
        raise DiagramError("Graphviz could not lay the diagram out: " + " ".join(errors))
    assert isinstance(data, bytes)
    return data


@contextlib.contextmanager
def _captured_stderr() -> Iterator[list[str]]:
    """Collect what the Graphviz library prints on file descriptor 2 (its errors, and the
    wheel's bundled fontconfig complaining about the system's newer configuration files)."""
    lines: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines.extend(sink.read().decode(errors="replace").splitlines())


def write(source: str, path: str | Path) -> None:
    """Write the diagram to ``path`` in the format its extension names."""
    fmt = format_of(path)
    data = render(source, fmt)
    Path(path).write_bytes(data)


def svg_text(source: str) -> str:
    """The diagram as an SVG element for inlining into HTML (no XML prolog or doctype)."""
    svg = render(source, "svg").decode()
    return svg[svg.index("<svg") :]
