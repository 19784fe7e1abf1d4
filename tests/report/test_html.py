"""The HTML report, the graph exports and the repository tree."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelyard import Workspace
from modelyard.cli.app import app
from tests.support.netflix import NETFLIX_REFS, ROOT

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None and not os.environ.get("CI"),
    reason="Graphviz `dot` is not installed (make test installs it)",
)
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"

NETFLIX_EDGES = 4  # ranker -> 3 steps, content_retrieval -> query_understanding


@needs_dot
def test_netflix_report_has_every_model_node_and_edge(netflix: Workspace, tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    netflix.compile(repository, profile="local")
    page = netflix.html_report(tmp_path / "report", repository=repository).read_text()
    for ref in NETFLIX_REFS:
        assert f'id="model-{ref}"' in page
    svg = page[page.index('<div class="graph"') :]
    svg = svg[: svg.index("</svg>")]
    titles = re.findall(r'<g id="node\d+" class="node">\s*<title>([^<]+)</title>', svg)
    assert sorted(titles) == NETFLIX_REFS
    assert len(re.findall(r'class="edge"', svg)) == NETFLIX_EDGES
    assert 'stroke="#b00020"' in svg.lower()  # the critical path is marked
    # The chain overrun of the seed's content_retrieval is highlighted in the SLA table.
    row = page[page.index('id="sla-table"') :]
    assert re.search(r'<tr class="overrun"><td>search/content_retrieval@2.0', row)
    assert "search.content_retrieval/" in page  # the repository tree
    assert "cdn" not in page.lower() and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    ).replace("http://www.w3.org/1999/xlink", "").replace("http://inference-a:8000", "").replace(
        "http://inference-b:8000", ""
    )


@needs_dot
def test_large_catalog_is_grouped_per_domain(workspace: Workspace, tmp_path: Path) -> None:
    documents = []
    for index in range(150):
        domain = f"d{index % 3}"
        dependency = f"\ndependencies: [d{(index - 1) % 3}/m{index - 1}]" if index else ""
        documents.append(
            f'name: m{index}\nversion: "1.0"\nmodel_type: embedding\n'
            f"framework: onnx\ndomain: {domain}\nowner_team: t{index % 5}{dependency}\n"
        )
    (tmp_path / "many.yaml").write_text("---\n".join(documents))
    workspace.apply([tmp_path / "many.yaml"])
    index = workspace.html_report(tmp_path / "report")
    page = index.read_text()
    assert page.count('<div class="graph"') == 0  # the index draws no model graph
    assert 'id="model-d0/m0@1.0"' not in page  # nor lists every model
    for domain in ("d0", "d1", "d2"):
        assert f'<a href="domains/{domain}.html">{domain}</a>' in page
        domain_page = (tmp_path / "report" / "domains" / f"{domain}.html").read_text()
        assert domain_page.count('<div class="graph"') == 1  # one graph per domain page
        assert domain_page.count('<tr id="model-') == 50
        assert 'href="../index.html"' in domain_page


@needs_dot
def test_graph_command_formats(netflix: Workspace) -> None:
    assert netflix.root is not None
    runner = CliRunner()
    base = ["--workspace", str(netflix.root)]
    dot = runner.invoke(app, ["graph", *base], catch_exceptions=False).stdout
    assert dot.startswith('digraph "modelyard"') and dot.count(" -> ") == NETFLIX_EDGES
    mermaid = runner.invoke(
        app,
        ["graph", "search/content_retrieval", "--format", "mermaid", *base],
        catch_exceptions=False,
    ).stdout
    assert mermaid.splitlines()[0] == "graph LR" and mermaid.count("-->") == 1
    assert "recommendation" not in mermaid  # only the neighbourhood
    svg = runner.invoke(app, ["graph", "--format", "svg", "--json", *base], catch_exceptions=False)
    assert json.loads(svg.stdout)["graph"].startswith("<svg")
    bad = runner.invoke(app, ["graph", "--format", "png", *base], catch_exceptions=False)
    assert bad.exit_code == 2 and "dot, mermaid or svg" in bad.stderr


def test_tree_command(netflix: Workspace, tmp_path: Path) -> None:
    assert netflix.root is not None
    netflix.compile(tmp_path / "repo")
    runner = CliRunner()
    result = runner.invoke(app, ["tree", str(tmp_path / "repo"), "--json"], catch_exceptions=False)
    tree = json.loads(result.stdout)["tree"]
    names = [child["name"] for child in tree["children"]]
    assert "recommendation.ranking_scorer" in names
    scorer = next(c for c in tree["children"] if c["name"] == "recommendation.ranking_scorer")
    assert scorer["size_bytes"] > 400
    text = runner.invoke(app, ["tree", str(tmp_path / "repo")], catch_exceptions=False).stdout
    assert "config.pbtxt" in text and "KB" in text
    missing = runner.invoke(app, ["tree", str(tmp_path / "nope")], catch_exceptions=False)
    assert missing.exit_code == 3


@pytest.mark.browser
@needs_dot
@pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (make test installs it)",
)
def test_report_in_a_real_browser(netflix: Workspace, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    page_path = netflix.html_report(tmp_path / "report")
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on(
            "console",
            lambda message: errors.append(message.text) if message.type == "error" else None,
        )
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(page_path.as_uri())
        graph_box = page.locator(".graph svg").first.bounding_box()
        assert graph_box and graph_box["width"] > 100 and graph_box["height"] > 50
        for chart in ("chart-gpu_memory_mb-domain", "chart-cpu_cores-team"):
            box = page.locator(f"#{chart} svg").bounding_box()
            assert box and box["width"] > 100 and box["height"] > 30, chart
        bars = page.locator("#chart-gpu_memory_mb-domain rect.bar")
        assert bars.count() == 2 and all(
            (bars.nth(i).bounding_box() or {}).get("width", 0) > 1 for i in range(2)
        )
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        # A domain's page, by the index's link, and back.
        page.click("#domains-table a:text-is('search')")
        page.wait_for_url("**/domains/search.html")
        box = page.locator(".graph svg").bounding_box()
        assert box and box["width"] > 100 and box["height"] > 30
        assert page.locator("#models-table tr[id^=model-]").count() == 2
        page.screenshot(path=str(ARTIFACTS / "report-domain.png"), full_page=True)
        page.click("#to-index")
        page.wait_for_url("**/report/index.html")
        browser.close()
    assert errors == []
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000


@needs_dot
def test_report_shows_the_placement_map(netflix: Workspace, tmp_path: Path) -> None:
    page = netflix.html_report(tmp_path / "report").read_text()
    section = page[page.index('id="placement-map"') :]
    section = section[: section.index('<h2 id="history">')]
    assert "inference-a" in section and "inference-b" in section
    assert "recommendation/ranking_scorer@3.0 ×1" in section
    # The same placement `modelyard place` makes (exact for a selection this small).
    placed = netflix.place()
    for server in placed.servers:
        rows = section[section.index(f"<h3>{server.server} ") :]
        by_gpu = {
            row.split("</td>", 1)[0]: row
            for row in rows[: rows.index("</table>")].split("<tr><td>")
        }
        for assignment in placed.on(server.server):
            gpu = "CPU" if assignment.gpu_index is None else str(assignment.gpu_index)
            assert f"{assignment.ref} ×" in by_gpu[gpu], (server.server, assignment.ref)
