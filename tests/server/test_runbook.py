"""``/runbook``: the runbook served by the exporter, one anchor per alert, packaged in the wheel."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from sync_exporter.alerting.render import demo_rules_text, render_rules
from sync_exporter.alerting.tunables import default_tunables
from sync_exporter.runbook import RUNBOOK_RESOURCE, heading_id, load_runbook, render_markdown
from tests.conftest import CHROMIUM_FLAGS
from tests.server.conftest import Harness

ROOT = Path(__file__).parents[2]


#: Every tag the renderer writes; anything else came from the Markdown and is a hole.
RENDERED_TAGS = {"h1", "h2", "h3", "p", "ul", "ol", "li", "pre", "code", "strong", "em", "a"} | {
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}


class _Tags(HTMLParser):
    """Collects the tags and attributes a browser's parser would see."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append((tag, attrs))


def _ids(page: str) -> set[str]:
    return set(re.findall(r'\sid="([^"]+)"', page))


def _alert_anchors(rules_text: str) -> dict[str, str]:
    rules = yaml.safe_load(rules_text)["groups"][0]["rules"]
    return {
        r["alert"]: r["annotations"]["runbook_url"].split("#", 1)[1] for r in rules if "alert" in r
    }


def test_the_packaged_runbook_is_docs_runbook() -> None:
    packaged = ROOT / "sync_exporter" / RUNBOOK_RESOURCE
    assert packaged.read_text(encoding="utf-8") == (ROOT / "docs" / "runbook.md").read_text(
        encoding="utf-8"
    ), f"stale: cp docs/runbook.md {packaged.relative_to(ROOT)}"
    assert load_runbook() == packaged.read_text(encoding="utf-8")


async def test_every_alert_links_to_a_section_of_the_served_runbook(harness: Harness) -> None:
    async with harness.client.get("/runbook") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        page = await response.text()
    ids = _ids(page)
    for text in (render_rules(), demo_rules_text()):
        anchors = _alert_anchors(text)
        assert len(anchors) == len(default_tunables().alerts)
        for alert, anchor in anchors.items():
            assert anchor in ids, f"{alert}: #{anchor} is not a section of /runbook"
            assert re.search(rf'<h2 id="{anchor}">{alert} ', page)


def test_the_landing_page_links_to_the_runbook() -> None:
    from sync_exporter.landing import ReloadStatus, render_landing

    page = render_landing(
        version="1",
        nodes=(),
        last={},
        now=0,
        reload=ReloadStatus("c.yml", successful=True, success_time=0, error=None),
    )
    assert 'href="/runbook"' in page


@pytest.mark.parametrize(
    ("markdown", "html"),
    [
        ("## BTSyncNodeDown", '<h2 id="btsyncnodedown">BTSyncNodeDown '),
        ("# Runbook: A / B alerts", '<h1 id="runbook-a--b-alerts">'),
        ("**`folder_id`.** text", "<p><strong><code>folder_id</code>.</strong> text</p>"),
        ("*Status → Targets* and `a*b*c`", "<p><em>Status → Targets</em> and <code>a*b*c</code>"),
        ("- one\n- two\n", "<ul>\n<li>one</li>\n<li>two</li>\n</ul>"),
        ("1. one\n2. two\n", "<ol>\n<li>one</li>\n<li>two</li>\n</ol>"),
        (
            "- item:\n\n  ```sh\n  curl 'a&b'\n  ```\n\n- next\n",
            '<ul>\n<li><p>item:</p>\n<pre><code class="language-sh">curl &#x27;a&amp;b&#x27;\n'
            "</code></pre></li>\n<li>next</li>\n</ul>",
        ),
        (
            "| a | b |\n|---|---|\n| `x` | y |\n",
            "<table>\n<thead><tr><th>a</th><th>b</th></tr></thead>\n<tbody>\n"
            "<tr><td><code>x</code></td><td>y</td></tr>\n</tbody>\n</table>",
        ),
        ("[docs](https://example.org/a?b=1&c=2)", '<a href="https://example.org/a?b=1&amp;c=2">'),
        ("see [the top](#meaning)", 'see <a href="#meaning">the top</a>'),
    ],
)
def test_the_markdown_subset_renders(markdown: str, html: str) -> None:
    assert html in render_markdown(markdown)


@pytest.mark.parametrize(
    "markdown",
    [
        "<script>alert(1)</script>",
        "## <img src=x onerror=alert(1)>",
        "[x](javascript:alert(1))",
        '[x](https://a.example/"onmouseover="alert(1))',
        "`</code><script>alert(1)</script>`",
        "```\n</pre><script>alert(1)</script>\n```",
        "- <b onclick=alert(1)>x</b>",
        "| <script> | b |\n|---|---|\n| c | d |",
    ],
)
def test_nothing_in_the_markdown_becomes_markup(markdown: str) -> None:
    tags = _Tags()
    tags.feed(render_markdown(markdown))
    tags.close()
    assert {tag for tag, _ in tags.seen} <= RENDERED_TAGS
    for _, attributes in tags.seen:
        assert {name for name, _ in attributes} <= {"id", "class", "href", "aria-label"}
        href = dict(attributes).get("href")
        assert href is None or href.startswith(("https://", "http://", "#"))


def test_heading_ids_follow_github() -> None:
    assert heading_id("BTSyncFolderOutOfSync") == "btsyncfolderoutofsync"
    assert heading_id("Before you start") == "before-you-start"
    assert (
        heading_id("`folder_id`: one id, per shared folder") == "folder_id-one-id-per-shared-folder"
    )


def test_the_wheel_carries_the_runbook(tmp_path: Path) -> None:
    # Built as pip builds it for a user; read from the wheel, not from this checkout.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("sync_exporter-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        packaged = archive.read(f"sync_exporter/{RUNBOOK_RESOURCE}").decode()
    assert packaged == (ROOT / "docs" / "runbook.md").read_text(encoding="utf-8")
    probe = (
        "import sync_exporter.runbook as r, sys; "
        "assert r.__file__.startswith(sys.argv[1]), r.__file__; "
        "print(r.runbook_page())"
    )
    page = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(wheel)!r}); {probe}",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    ).stdout
    assert set(_alert_anchors(render_rules()).values()) <= _ids(page)


async def test_chromium_opens_an_alert_link_at_its_section(
    harness: Harness, chromium_bin: Path, tmp_path: Path
) -> None:
    url = str(harness.client.make_url("/runbook")) + "#btsyncfolderoutofsync"
    flags = [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    process = await asyncio.create_subprocess_exec(
        str(chromium_bin),
        *flags,
        "--dump-dom",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    dom = out.decode()
    assert process.returncode == 0
    assert '<h2 id="btsyncfolderoutofsync">BTSyncFolderOutOfSync' in dom
    assert "<script" not in dom
    # The browser parsed what we sent: every alert is a section and a table-of-contents link.
    for anchor in _alert_anchors(render_rules()).values():
        assert f'id="{anchor}"' in dom
        assert f'href="#{anchor}"' in dom
