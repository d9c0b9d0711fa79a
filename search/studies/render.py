"""How a study's pages are written: numbers as table cells, and one list of items as Markdown and
as HTML through Jinja2 templates.

An item is a tuple: ("h1" | "h2", text), ("p", text), ("pre", text), ("img", path, alt) or
("table", header, rows). Text may hold **bold** and `code`, as Markdown writes them; the HTML
template escapes everything and turns those two into <b> and <code>.

Example:
    >>> print(to_markdown([("h2", "Claims"), ("table", ["claim", "verdict"], [["a|b", "**reproduced**"]])]))
    ## Claims
    <BLANKLINE>
    | claim | verdict |
    |---|---|
    | a\\|b | **reproduced** |
    <BLANKLINE>
    >>> "<td><b>reproduced</b></td>" in to_html([("table", ["verdict"], [["**reproduced**"]])], "t")
    True
"""
from __future__ import annotations

import html
import math

import jinja2
from markupsafe import Markup

MARKDOWN = """\
{%- for item in items -%}
{%- set kind, rest = item[0], item[1:] -%}
{%- if kind == "h1" %}# {{ rest[0] }}

{% elif kind == "h2" %}## {{ rest[0] }}

{% elif kind == "p" %}{{ rest[0] }}

{% elif kind == "pre" %}```
{{ rest[0] }}
```

{% elif kind == "img" %}![{{ rest[1] }}]({{ rest[0] }})

{% elif kind == "table" %}| {{ rest[0] | join(" | ") }} |
|{{ "---|" * (rest[0] | length) }}
{% for row in rest[1] %}| {{ row | map("cell") | join(" | ") }} |
{% endfor %}
{% endif -%}
{%- endfor -%}
"""

HTML = """\
<!doctype html><html><head><meta charset='utf-8'><title>{{ title }}</title><style>{{ style }}</style></head><body>
{% for item in items -%}
{% set kind, rest = item[0], item[1:] -%}
{% if kind in ("h1", "h2") %}<{{ kind }}>{{ rest[0] | inline }}</{{ kind }}>
{% elif kind == "p" %}<p>{{ rest[0] | inline }}</p>
{% elif kind == "pre" %}<pre>{{ rest[0] }}</pre>
{% elif kind == "img" %}<p><img src="{{ rest[0] }}" alt="{{ rest[1] }}"></p>
{% elif kind == "table" %}<table><tr>{% for h in rest[0] %}<th>{{ h }}</th>{% endfor %}</tr>
{%- for row in rest[1] %}<tr>{% for c in row %}<td>{{ c | string | inline }}</td>{% endfor %}</tr>{% endfor %}</table>
{% endif %}
{%- endfor %}</body></html>
"""

STYLE = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;font-size:14px}"
         "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px;"
         "font-size:12px;vertical-align:top}img{max-width:100%}pre{background:#f6f6f6;padding:8px;overflow:auto}")


def _inline(text: str) -> Markup:
    """Escaped text with **bold** and `code` as <b> and <code>."""
    out, bold, code = html.escape(str(text)), False, False
    while "**" in out:
        out = out.replace("**", "</b>" if bold else "<b>", 1)
        bold = not bold
    while "`" in out:
        out = out.replace("`", "</code>" if code else "<code>", 1)
        code = not code
    return Markup(out)


def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(autoescape=autoescape, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    env.filters["inline"] = _inline
    env.filters["cell"] = lambda s: str(s).replace("|", "\\|")
    return env


_MARKDOWN = _environment(False).from_string(MARKDOWN)
_HTML = _environment(True).from_string(HTML)


def to_markdown(items: list[tuple]) -> str:
    return _MARKDOWN.render(items=items).rstrip("\n") + "\n"


def to_html(items: list[tuple], title: str) -> str:
    return _HTML.render(items=items, title=title, style=Markup(STYLE))


# -- cells ------------------------------------------------------------------------------------

def fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def fmt_p(p: float) -> str:
    return "-" if not math.isfinite(p) else ("<0.0001" if p < 1e-4 else f"{p:.4f}")


def format_effect(mean: float, low: float, high: float, n: int, metric: str, test: str, *, exact: bool = False) -> str:
    """An effect and its interval in the precision of its unit; an `exact` one (counted or proven:
    no replicates) as its value."""
    spec = {"params": "+,.0f", "gmacs": "+.4f", "latency_ms": "+.2f", "step_ms": "+.2f"}.get(metric, "+.3f")
    spec = "+.2f" if test == "rank_agreement" else spec
    if exact:
        return f"{mean:{spec}} (exact)"
    if n == 0:
        return "n/a"
    if not math.isfinite(low):
        return f"{mean:{spec}} (no interval)"
    return f"{mean:{spec}} [{low:{spec}}, {high:{spec}}]"


def verdict_label(verdict: str, *, exact: bool = False, exploratory: bool = False,
                  budget_sensitive: bool = False) -> str:
    """The verdict in bold, with what qualifies it: exact, exploratory, budget-sensitive."""
    flags = [f for f, on in (("exact", exact), ("exploratory", exploratory), ("budget-sensitive", budget_sensitive))
             if on]
    return f"**{verdict}**" + (f" ({', '.join(flags)})" if flags else "")
