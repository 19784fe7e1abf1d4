"""The report at scale: an index and one page per domain, a bounded index, readable units,
colours that are a function of the domain's name, findings grouped by kind."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from modelyard import Workspace
from modelyard.errors import NotFound, Problem, Severity
from modelyard.report.charts import bar_chart
from modelyard.report.graphs import PALETTE, domain_colour, domain_colours
from modelyard.report.html import group_findings
from modelyard.report.units import megabytes
from tests.support.bench import bench_catalog

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None and not os.environ.get("CI"),
    reason="Graphviz `dot` is not installed (make test installs it)",
)
# The index may hold 2 MB at 10,000 models: at n models, n / 10,000 of it (stricter than
# the rule, since part of the index does not grow with the catalog).
INDEX_BYTES_AT_10K = 2_000_000


def test_units_read_as_gb_and_tb() -> None:
    assert megabytes(6144) == "6,144 MB"
    assert megabytes(12 * 1024 + 300) == "12.3 GB"
    assert megabytes(4_111_360) == "3.9 TB"
    chart = bar_chart(
        "GPU memory by domain", [("ads", 4_111_360.0)], "MB", 2_097_152, fmt=megabytes
    )
    assert "3.9 TB" in chart and "2.0 TB" in chart and "4,111,360" not in chart


def test_a_domains_colour_does_not_change_when_another_is_added() -> None:
    before = domain_colours(["recommendation", "search", "ads"])
    after = domain_colours(["recommendation", "search", "ads", "aaa-first", "fraud", "zzz"])
    assert {domain: after[domain] for domain in before} == before
    assert all(colour in PALETTE for colour in after.values())
    assert domain_colour("search") == before["search"]  # a function of the name alone
    # The name decides: the bench catalog's five domains get five colours.
    assert (
        len(set(domain_colours(["recommendation", "search", "ads", "fraud", "content"]).values()))
        == 5
    )


def test_findings_are_grouped_by_kind_errors_first() -> None:
    def finding(severity: Severity, code: str, n: int) -> Problem:
        return Problem(severity, code, f"finding {n}", model=f"d/m{n}@1.0")

    problems = [finding(Severity.WARNING, "sla-latency-chain", n) for n in range(5)]
    problems += [finding(Severity.WARNING, "naming", 9), finding(Severity.ERROR, "cycle", 7)]
    groups = group_findings(problems, shown=2)
    assert [(g.severity, g.code, g.total) for g in groups] == [
        ("error", "cycle", 1),
        ("warning", "sla-latency-chain", 5),
        ("warning", "naming", 1),
    ]
    assert [p.message for p in groups[1].problems] == ["finding 0", "finding 1"]


@needs_dot
def test_report_writes_an_index_and_a_page_per_domain(netflix: Workspace, tmp_path: Path) -> None:
    index = netflix.html_report(tmp_path / "report")
    assert index == tmp_path / "report" / "index.html"
    page = index.read_text()
    domains = sorted(p.name for p in (tmp_path / "report" / "domains").iterdir())
    assert domains == ["recommendation.html", "search.html"]
    table = page[
        page.index('id="domains-table"') : page.index("</table>", page.index('id="domains-table"'))
    ]
    assert '<a href="domains/search.html">search</a>' in table
    # search: content_retrieval -> query_understanding inside it, nothing across domains.
    search_row = table[table.index('data-domain="search"') :].split("</tr>")[0]
    assert re.findall(r'<td class="num[^"]*">([^<]*)</td>', search_row)[:4] == [
        "2",
        "7,168 MB",
        "1",
        "0",
    ]
    assert 'id="critical-path"' in page
    search = (tmp_path / "report" / "domains" / "search.html").read_text()
    assert search.count('<div class="graph"') == 1 and "<svg" in search
    assert 'id="model-search/content_retrieval@2.0"' in search
    assert 'id="model-recommendation/' not in search
    assert 'href="../index.html"' in search and 'href="recommendation.html"' in search
    # The chain overrun of content_retrieval is on its domain's page, grouped by kind.
    assert re.search(r'<tr class="overrun"><td>search/content_retrieval@2.0', search)
    assert 'id="kind-warning-sla-latency-chain"' in search
    assert 'id="kind-warning-sla-latency-chain"' in page
    assert "GB" in page and "4,111,360 MB" not in page


def test_one_page_at_a_time_and_an_unknown_domain(netflix: Workspace) -> None:
    index = netflix.html_report_page()
    assert 'id="domains-table"' in index
    with pytest.raises(NotFound, match="domain 'nowhere'"):
        netflix.html_report_page(domain="nowhere")


def test_index_size_grows_within_two_mb_at_10k(workspace: Workspace, tmp_path: Path) -> None:
    n = 1000
    bench_catalog().generate(n, tmp_path / "generated")
    workspace.apply([tmp_path / "generated" / "manifests"])
    index = workspace.html_report_page().encode()  # with the Netflix fleet's placement
    assert len(index) <= INDEX_BYTES_AT_10K * n / 10_000, len(index)
    assert index.count(b'<tr id="model-') == 0 and index.count(b"<svg") > 0  # charts only
    assert index.count(b'<tr data-domain="') == 5
