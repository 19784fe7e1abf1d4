"""Regions on two local Tritons, each reading its own bucket of one S3 server: deploy
one region, the other drifts by name; deploy it too, no drift; an upgrade deployed to
one region shows the other serving the old digest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelyard.triton.client import TritonClient
from modelyard.triton.server import LocalTriton, free_port
from tests.support.rollout import GOOD_MODEL, python_model
from tests.support.s3 import s3_workspace_config
from tests.support.workspaces import Cli, init_workspace

pytestmark = [pytest.mark.triton, pytest.mark.slow, pytest.mark.s3_one_server]

REGIONS = ("eu", "us")


@pytest.fixture
def two_regions(
    tmp_path: Path, catalog_url: str, s3_endpoint: str, s3_env: dict[str, str], s3: Any, bucket: str
) -> Iterator[tuple[Cli, dict[str, TritonClient]]]:
    """Targets eu-1 and us-1 (kind triton-s3), one local Triton each on its own bucket;
    regions eu: [eu-1] and us: [us-1]."""
    root = tmp_path / "ws"
    root.mkdir()
    host = s3_endpoint.removeprefix("http://")
    ports = {region: free_port() for region in REGIONS}
    buckets = {region: f"{bucket}-{region}" for region in REGIONS}
    lines = ["targets:"]
    for region in REGIONS:
        lines.append(
            f"  {region}-1: {{kind: triton-s3, url: 'http://127.0.0.1:{ports[region]}', "
            f"repository: 's3://{buckets[region]}/repo', profile: local}}"
        )
        s3.create_bucket(Bucket=buckets[region])
        # Triton refuses to start on a prefix holding nothing; a file at the root is no model.
        s3.put_object(Bucket=buckets[region], Key="repo/README", Body=b"published by modelyard\n")
    lines.append("regions: {eu: [eu-1], us: [us-1]}")
    (root / "modelyard.yaml").write_text(s3_workspace_config(s3_endpoint, "\n".join(lines) + "\n"))
    init_workspace(root, catalog_url).close()
    servers: list[LocalTriton] = []
    clients: dict[str, TritonClient] = {}
    try:
        for region in REGIONS:
            server = LocalTriton(
                f"s3://{host}/{buckets[region]}/repo",
                tmp_path / f"triton-{region}",
                http_port=ports[region],
                env=s3_env,
            )
            servers.append(server)
            clients[region] = server.start()
        yield Cli(root), clients
    finally:
        for client in clients.values():
            client.close()
        for server in servers:
            server.stop()


def echo(client: TritonClient) -> float:
    return float(client.infer("tools.echo", {"X": ("FP32", [1], [0.0])})["Y"][0])


def by_region(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["region"]: r for r in status["regions"]}


def served(region: dict[str, Any]) -> dict[str, str | None]:
    ((target,),) = [region["targets"]]
    return {m["model"]: m["served_digest"] for m in target["models"]}


def test_a_region_deployed_and_the_other_drifting_by_name(
    two_regions: tuple[Cli, dict[str, TritonClient]], tmp_path: Path
) -> None:
    cli, clients = two_regions
    cli("apply", str(python_model(tmp_path, "echo", "1.0", GOOD_MODEL)))
    deployed = cli.json("deploy", "--region", "eu", "--yes", "--ready-timeout", "20")
    assert deployed["region"] == "eu" and list(deployed["deployments"]) == ["eu-1"]
    assert echo(clients["eu"]) == 1.0

    status = cli.json("status", "--all-regions", expect=1)
    regions = by_region(status)
    assert regions["eu"]["in_sync"] and regions["eu"]["drift"] == []
    (model,) = regions["eu"]["targets"][0]["models"]
    assert model["state"] == "serving" and model["served_digest"] == model["desired_digest"]
    digest = model["desired_digest"][:12]
    assert regions["us"]["drift"] == [
        f"us-1: tools.echo is not served (the catalog's selection has {digest}, versions 1)"
    ]
    assert status["differences"] == [f"tools.echo: eu serves {digest}; us serves nothing"]
    text = cli("status", "--all-regions", expect=1).output
    assert "region us drift: us-1: tools.echo is not served" in text
    assert "region eu: in sync" in text

    cli("deploy", "--region", "us", "--yes", "--ready-timeout", "20")
    assert echo(clients["us"]) == 1.0
    status = cli.json("status", "--all-regions")
    assert status["in_sync"] and status["differences"] == []
    regions = by_region(status)
    assert served(regions["eu"]) == served(regions["us"]) == {"tools.echo": model["served_digest"]}

    # An upgrade rolled out to one region: the other serves the old digest, named.
    cli("apply", str(python_model(tmp_path, "echo", "2.0", GOOD_MODEL)))
    cli("deploy", "--region", "eu", "--yes", "--ready-timeout", "20")
    assert echo(clients["eu"]) == 2.0 and echo(clients["us"]) == 1.0
    status = cli.json("status", "--all-regions", expect=1)
    regions = by_region(status)
    new = regions["eu"]["targets"][0]["models"][0]["served_digest"][:12]
    assert regions["eu"]["in_sync"] and new != digest
    assert regions["us"]["drift"] == [
        f"us-1: tools.echo serves {digest}, the catalog's selection has {new}"
    ]
    assert status["differences"] == [f"tools.echo: eu serves {new}; us serves {digest}"]
