"""The small part of Markdown the paper READMEs use, to HTML: paragraphs, lists, tables, fenced code, headings,
inline code, bold, italics, links, and ``$…$`` LaTeX rendered as MathML (``latex2mathml``; no JavaScript).

Everything is escaped first; only the constructs above produce tags. Returns :class:`markupsafe.Markup`.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

from markupsafe import Markup

_TOKEN = re.compile(r"(`[^`]+`|(?<![\\$])\$[^$\n]+?(?<!\\)\$)")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITAL = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])")


@lru_cache(maxsize=2048)
def math(latex: str) -> str:
    """``latex`` as inline MathML; the escaped source in ``<code>`` when it does not convert."""
    from latex2mathml.converter import convert

    try:
        return convert(latex)
    except Exception:  # latex2mathml raises several kinds on input it does not know
        return f"<code class='tex'>{html.escape(latex)}</code>"


def _plain(s: str) -> str:
    s = html.escape(s, quote=False)
    s = _LINK.sub(lambda m: f"<a href=\"{html.escape(m.group(2))}\">{m.group(1)}</a>", s)
    s = _BOLD.sub(r"<strong>\1</strong>", s)
    return _ITAL.sub(r"<em>\1</em>", s)


def inline(s: str) -> Markup:
    """One line of Markdown to HTML (code spans and ``$math$`` first, then links, bold and italics)."""
    out = []
    for i, piece in enumerate(_TOKEN.split(s)):
        if i % 2 == 0:
            out.append(_plain(piece))
        elif piece.startswith("`"):
            out.append(f"<code>{html.escape(piece[1:-1])}</code>")
        else:
            out.append(math(piece[1:-1]))
    return Markup("".join(out))


def _cells(line: str) -> list[str]:
    line = line.strip()
    line = line[1:] if line.startswith("|") else line
    line = line[:-1] if line.endswith("|") and not line.endswith("\\|") else line
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)]


def table(lines: list[str], cls: str = "") -> str:
    head, body = _cells(lines[0]), [_cells(x) for x in lines[2:]]
    th = "".join(f"<th>{inline(c)}</th>" for c in head)
    rows = "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in body)
    klass = f" class='{cls}'" if cls else ""
    return f"<div class='scroll'><table{klass}><thead><tr>{th}</tr></thead><tbody>{rows}</tbody></table></div>"


def parse_table(md: str) -> list[list[str]]:
    """The first Markdown table in ``md`` as rows of raw cell text (header first); [] when there is none."""
    lines = md.splitlines()
    for i in range(len(lines) - 1):
        if lines[i].lstrip().startswith("|") and re.match(r"^\s*\|?\s*:?-{3,}", lines[i + 1]):
            rows = [_cells(lines[i])]
            for x in lines[i + 2:]:
                if not x.lstrip().startswith("|"):
                    break
                rows.append(_cells(x))
            return rows
    return []


def render(md: str) -> Markup:
    """A block of Markdown to HTML."""
    lines = md.strip("\n").splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        s = line.strip()
        if not s:
            i += 1
        elif s.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith("```"):
                j += 1
            out.append(f"<pre><code>{html.escape(chr(10).join(lines[i + 1:j]))}</code></pre>")
            i = j + 1
        elif s.startswith("#"):
            level = min(len(s) - len(s.lstrip("#")) + 2, 6)
            out.append(f"<h{level}>{inline(s.lstrip('#').strip())}</h{level}>")
            i += 1
        elif s.startswith("|") and i + 1 < len(lines) and re.match(r"^\s*\|?\s*:?-{3,}", lines[i + 1]):
            j = i + 2
            while j < len(lines) and lines[j].strip().startswith("|"):
                j += 1
            out.append(table(lines[i:j]))
            i = j
        elif re.match(r"^([-*]|\d+\.)\s", s):
            ordered = bool(re.match(r"^\d+\.", s))
            items: list[str] = []
            while i < len(lines) and lines[i].strip():
                t = lines[i].strip()
                m = re.match(r"^([-*]|\d+\.)\s+(.*)", t)
                if m and (len(lines[i]) - len(lines[i].lstrip())) < 2:
                    items.append(m.group(2))
                elif m:  # a nested item: keep it inside the current one
                    items[-1] += " · " + m.group(2)
                else:
                    items[-1] += " " + t
                i += 1
            tag = "ol" if ordered else "ul"
            out.append(f"<{tag}>" + "".join(f"<li>{inline(x)}</li>" for x in items) + f"</{tag}>")
        else:
            para = []
            while i < len(lines) and lines[i].strip() and not re.match(r"^\s*([-*]|\d+\.)\s|^\s*[|#]|^\s*```",
                                                                      lines[i]):
                para.append(lines[i].strip())
                i += 1
            if not para:  # a line the rules above did not take (e.g. a lone "|"): keep it as text
                para, i = [s], i + 1
            out.append(f"<p>{inline(' '.join(para))}</p>")
    return Markup("\n".join(out))
