"""The runbook the exporter serves on ``/runbook``: docs/runbook.md, rendered to HTML.

Alerts link to ``<base>/runbook#<alert name in lower case>``; served by the exporter, that
link opens wherever the exporter runs, with nothing to regenerate or host. The Markdown is
packaged with the wheel (``sync_exporter/assets/runbook.md``, a copy of docs/runbook.md that
a test keeps equal), so an installed exporter needs no checkout.

The renderer handles the subset of Markdown the runbook is written in (headings, paragraphs,
lists with nested paragraphs and code, fenced code, tables, inline code, bold, italics and
links) rather than pulling in a general Markdown library: that subset is small, and a page
built only from escaped text and a fixed set of tags cannot carry markup from the source.
Every piece of text is HTML-escaped; raw HTML in the Markdown is shown as text; a link
becomes ``<a>`` only for http(s) and in-page ``#`` targets. Heading ids follow GitHub's
rule (lower case, punctuation dropped, spaces to ``-``), so ``#btsyncnodedown`` opens the
same section here and on GitHub.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from html import escape
from importlib import resources

__all__ = ["RUNBOOK_RESOURCE", "heading_id", "load_runbook", "render_markdown", "runbook_page"]

#: The packaged Markdown, relative to the ``sync_exporter`` package.
RUNBOOK_RESOURCE = "assets/runbook.md"

_FENCE = re.compile(r"^(\s*)(```|~~~)\s*([\w+-]*)\s*$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_ITEM = re.compile(r"^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])")


def heading_id(text: str) -> str:
    """Return GitHub's anchor for a heading: ``BTSyncNodeDown`` -> ``btsyncnodedown``."""
    plain = re.sub(r"[`*\[\]]", "", text).strip().lower()
    plain = re.sub(r"[^\w\- ]", "", plain)
    return plain.replace(" ", "-")


def _link(match: re.Match[str]) -> str:
    text, target = match.group(1), match.group(2)
    if re.match(r"^(https?://|#)", target):
        return f'<a href="{target}">{text}</a>'  # both parts were escaped by the caller
    return text


def _inline(text: str) -> str:
    """Escape ``text`` and render code spans, bold, italics and links.

    Code spans are cut out first (their text is literal, ``*`` included) and put back as
    ``<code>`` after the emphasis is rendered, so ``**`x`.**`` is bold code.
    """
    spans: list[str] = []

    def hold(match: re.Match[str]) -> str:
        spans.append(f"<code>{escape(match.group(2).strip(), quote=False)}</code>")
        return f"\x00{len(spans) - 1}\x00"

    html = escape(_CODE_SPAN.sub(hold, text.replace("\x00", "")))
    html = _LINK.sub(_link, html)
    html = _BOLD.sub(r"<strong>\1</strong>", html)
    html = _ITALIC.sub(r"<em>\1</em>", html)
    return re.sub("\x00(\\d+)\x00", lambda m: spans[int(m.group(1))], html)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _dedent(lines: Sequence[str], width: int) -> list[str]:
    return [line[min(width, _indent(line)) :] for line in lines]


def _fenced(lines: Sequence[str], start: int) -> tuple[str, int]:
    """Render the fenced code block opening at ``lines[start]``; return it and the next index."""
    opening = _FENCE.match(lines[start])
    assert opening is not None
    indent, fence, language = len(opening.group(1)), opening.group(2), opening.group(3)
    body: list[str] = []
    index = start + 1
    while index < len(lines):
        if lines[index].strip() == fence:
            index += 1
            break
        body.append(lines[index])
        index += 1
    code = escape("\n".join(_dedent(body, indent)))
    css = f' class="language-{escape(language)}"' if language else ""
    return f"<pre><code{css}>{code}\n</code></pre>", index


def _list(lines: Sequence[str], start: int) -> tuple[str, int]:
    """Render the list starting at ``lines[start]``; return it and the next index."""
    first = _ITEM.match(lines[start])
    assert first is not None
    ordered = first.group(2)[0].isdigit()
    base = len(first.group(1))
    items: list[list[str]] = []

    def _same(item: re.Match[str]) -> bool:
        return len(item.group(1)) == base and item.group(2)[0].isdigit() == ordered

    index = start
    while index < len(lines):
        line = lines[index]
        item = _ITEM.match(line)
        if item and _same(item):
            width = len(item.group(1)) + len(item.group(2)) + 1
            items.append([" " * width + item.group(3)])
            index += 1
            continue
        if not line.strip():
            following = next((ln for ln in lines[index:] if ln.strip()), "")
            sibling = _ITEM.match(following)
            if following and (_indent(following) > base or (sibling and _same(sibling))):
                items[-1].append("")
                index += 1
                continue
            break
        if _indent(line) > base or not _starts_block(line):
            items[-1].append(line)  # an indented continuation, or a lazy one
            index += 1
            continue
        break
    tag = "ol" if ordered else "ul"
    rendered = []
    for item_lines in items:
        width = min(_indent(ln) for ln in item_lines if ln.strip())
        body = _dedent(item_lines, width)
        html = render_markdown("\n".join(body))
        if "" not in body and html.startswith("<p>") and html.count("<p>") == 1:
            html = html[3:-4]  # a tight item: its one paragraph without <p>
        rendered.append(f"<li>{html}</li>")
    return f"<{tag}>\n" + "\n".join(rendered) + f"\n</{tag}>", index


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _table(lines: Sequence[str], start: int) -> tuple[str, int]:
    """Render the table whose header is ``lines[start]``; return it and the next index."""
    head = "".join(f"<th>{_inline(cell)}</th>" for cell in _cells(lines[start]))
    rows: list[str] = []
    index = start + 2
    while index < len(lines) and lines[index].strip().startswith("|"):
        rows.append("".join(f"<td>{_inline(cell)}</td>" for cell in _cells(lines[index])))
        index += 1
    body = "\n".join(f"<tr>{row}</tr>" for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>", index


def _is_table(lines: Sequence[str], index: int) -> bool:
    return (
        lines[index].strip().startswith("|")
        and index + 1 < len(lines)
        and _TABLE_RULE.match(lines[index + 1]) is not None
    )


def _starts_block(line: str) -> bool:
    return bool(_FENCE.match(line) or _HEADING.match(line) or _ITEM.match(line))


def _blocks(lines: Sequence[str]) -> Iterator[str]:
    index = 0
    while index < len(lines):
        line = lines[index]
        if not line.strip():
            index += 1
        elif _FENCE.match(line):
            html, index = _fenced(lines, index)
            yield html
        elif heading := _HEADING.match(line):
            level, text = len(heading.group(1)), heading.group(2)
            anchor = escape(heading_id(text))
            yield (
                f'<h{level} id="{anchor}">{_inline(text)} '
                f'<a class="anchor" href="#{anchor}" aria-label="link to this section">#</a>'
                f"</h{level}>"
            )
            index += 1
        elif _ITEM.match(line):
            html, index = _list(lines, index)
            yield html
        elif _is_table(lines, index):
            html, index = _table(lines, index)
            yield html
        else:
            paragraph = [line.strip()]
            index += 1
            while index < len(lines) and lines[index].strip() and not _starts_block(lines[index]):
                paragraph.append(lines[index].strip())
                index += 1
            yield f"<p>{_inline(' '.join(paragraph))}</p>"


def render_markdown(text: str) -> str:
    """Return the HTML of ``text`` (the runbook's subset of Markdown), every text escaped."""
    return "\n".join(_blocks(text.expandtabs(4).splitlines()))


def load_runbook() -> str:
    """Return the packaged runbook Markdown."""
    return resources.files("sync_exporter").joinpath(RUNBOOK_RESOURCE).read_text(encoding="utf-8")


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222;
       line-height: 1.45; padding: 0 1em; }
code { font-family: ui-monospace, monospace; background: #f3f3f3; padding: 0 0.2em; }
pre { background: #f6f6f6; border: 1px solid #ddd; padding: 0.7em; overflow-x: auto; }
pre code { background: none; padding: 0; }
h2 { border-top: 1px solid #ddd; padding-top: 0.8em; margin-top: 1.6em; }
h2:target { background: #fff6d5; }
a.anchor { color: #999; text-decoration: none; font-size: 0.8em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }
nav { background: #f6f6f6; padding: 0.5em 1em; }
"""


def runbook_page(markdown: str | None = None) -> str:
    """Return the runbook as a whole HTML page, with a table of its sections first."""
    text = load_runbook() if markdown is None else markdown
    sections = [
        match.group(1) for line in text.splitlines() if (match := re.match(r"^##\s+(.*)$", line))
    ]
    toc = " &middot; ".join(
        f'<a href="#{escape(heading_id(title))}">{_inline(title)}</a>' for title in sections
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>sync-exporter runbook</title>
<style>{_STYLE}</style>
</head>
<body>
<p><a href="/">sync-exporter</a> &rsaquo; runbook</p>
<nav>{toc}</nav>
{render_markdown(text)}
</body>
</html>
"""
