"""Self-contained HTML for ops reports: inline CSS, charts as inline SVG, no script, no font, no network.

A report must open from an e-mail attachment on a machine without internet, so nothing is fetched: styles are in
the page, charts are matplotlib ``Figure`` objects rendered to SVG text (no pyplot state), and fonts are the
reader's system fonts (the CSS lists the common CJK ones so Chinese renders on Windows, macOS and Linux).
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

CSS = """
body{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",system-ui,sans-serif;margin:0;color:#1c2833;
background:#f4f6f7}
header{background:#1f3a5f;color:#fff;padding:14px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.85;font-size:13px}main{padding:10px 28px 40px;max-width:1180px}
section{background:#fff;border-radius:6px;padding:14px 20px;margin:14px 0;box-shadow:0 1px 2px rgba(0,0,0,.08)}
h2{font-size:18px;margin:4px 0 10px;color:#1f3a5f}h3{font-size:15px;margin:12px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}th,td{border:1px solid #d5d8dc;padding:4px 8px;
text-align:right}th{background:#eaf2f8}td.l,th.l{text-align:left}
.kpis{display:flex;flex-wrap:wrap;gap:10px}.kpi{background:#eaf2f8;border-radius:6px;padding:8px 14px;min-width:150px}
.kpi b{display:block;font-size:20px;color:#1f3a5f}.kpi span{font-size:12px;color:#566573}
.note{font-size:12px;color:#566573}.warn{color:#b03a2e;font-weight:bold}.ok{color:#1e8449;font-weight:bold}
ul.words li{margin:3px 0}svg{max-width:100%;height:auto}a{color:#1f618d}
"""


def figure_svg(figure: Any) -> str:
    """A matplotlib ``Figure`` as inline SVG markup.

    Text stays text (``svg.fonttype = none``), so the browser draws Chinese labels with the reader's CJK fonts even
    where matplotlib has none; matplotlib's "glyph missing" warnings for such labels are expected and silenced.
    """
    import warnings

    from matplotlib import rc_context
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    buffer = io.StringIO()
    with rc_context({"svg.fonttype": "none"}), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from")
        FigureCanvasSVG(figure).print_svg(buffer, metadata={"Date": None})
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


@contextmanager
def quiet_glyphs() -> Iterator[None]:
    """Silence matplotlib's "glyph missing" warnings: Chinese labels are drawn by the browser (SVG text), not by it."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from")
        yield


def new_figure(width: float, height: float) -> Any:
    """A bare ``Figure`` (no pyplot state, so a notebook or server in the same process is untouched)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def esc(value: Any) -> str:
    return html.escape(str(value))


def fmt(value: Any, digits: int = 3) -> str:
    """Numbers for people: thousands separators, ``digits`` significant decimals, blank for missing."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.{digits}f}".rstrip("0").rstrip(".") if v != 0 else "0"
    return str(value)


def table(frame: pd.DataFrame, digits: int = 3, left: Iterable[str] = ()) -> str:
    """An escaped HTML table; numbers formatted with :func:`fmt`; ``left`` columns aligned left (text)."""
    left = set(left) | {c for c in frame.columns if frame[c].dtype == object}
    head = "".join(f'<th class="{"l" if c in left else ""}">{esc(c)}</th>' for c in frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        cells = "".join(
            f'<td class="{"l" if c in left else ""}">{esc(fmt(v, digits))}</td>'
            for c, v in zip(frame.columns, record, strict=True)
        )
        rows.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def kpis(values: Mapping[str, str]) -> str:
    """Headline figures as cards: label -> already formatted value."""
    cards = "".join(f'<div class="kpi"><b>{esc(v)}</b><span>{esc(k)}</span></div>' for k, v in values.items())
    return f'<div class="kpis">{cards}</div>'


def words(lines: Iterable[str]) -> str:
    return '<ul class="words">' + "".join(f"<li>{esc(line)}</li>" for line in lines) + "</ul>"


def section(title: str, body: str, anchor: str = "") -> str:
    ident = f' id="{esc(anchor)}"' if anchor else ""
    return f"<section{ident}><h2>{esc(title)}</h2>{body}</section>"


def page(title: str, subtitle: str, body: str, lang: str) -> str:
    """The whole document; ``lang`` sets the HTML language (zh-CN or en) for screen readers and fonts."""
    code = "zh-CN" if lang == "zh" else "en"
    return (
        f'<!DOCTYPE html><html lang="{code}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{esc(title)}</title>'
        f"<style>{CSS}</style></head><body><header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>"
        f"<main>{body}</main></body></html>"
    )


_EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", re.IGNORECASE)


def is_self_contained(document: str) -> bool:
    """True when the page references nothing over the network (no ``src``/``href`` to http(s) or //)."""
    return _EXTERNAL.search(document) is None
