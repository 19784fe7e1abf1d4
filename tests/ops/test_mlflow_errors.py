"""import-mlflow's bad input that needs no MLflow server: an unreachable or malformed
tracking URI, and the name rule."""

from __future__ import annotations

import pytest

from modelyard import Workspace
from modelyard.catalog.naming import check_name, normalised_name
from modelyard.errors import InputError, RegistryError
from tests.support.mlflow import free_port
from tests.support.workspaces import Cli


def test_an_unreachable_mlflow_is_one_line_and_changes_nothing(
    workspace: Workspace, cli: Cli
) -> None:
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    refused = cli(
        "import-mlflow",
        "--tracking-uri",
        uri,
        "--domain",
        "d",
        "--owner-team",
        "t",
        expect=RegistryError.exit_code,
    )

    assert f"MLflow at {uri} does not answer" in refused.output
    assert "check --tracking-uri" in refused.output
    assert len(refused.output.strip().splitlines()) == 1
    assert workspace.list_models(all_versions=True) == []
    assert workspace.root is not None
    assert not (workspace.root / ".modelyard" / "artifacts").exists()


def test_a_tracking_uri_that_is_not_a_url_is_bad_input(workspace: Workspace) -> None:
    with pytest.raises(InputError, match="--tracking-uri '127.0.0.1:5000': expected the URL"):
        workspace.import_mlflow("127.0.0.1:5000", domain="d", owner_team="t")


def test_a_bad_domain_is_refused_before_mlflow_is_asked(workspace: Workspace) -> None:
    with pytest.raises(InputError, match="--domain: domain 'Risk Team' is not allowed"):
        workspace.import_mlflow(
            f"http://127.0.0.1:{free_port()}", domain="Risk Team", owner_team="t"
        )


@pytest.mark.parametrize(
    ("mlflow_name", "catalog_name"),
    [
        ("Fraud Scorer", "fraud_scorer"),
        ("fraud-scorer", "fraud-scorer"),
        ("team.Ranker V2", "team_ranker_v2"),
        ("__private__", "private"),
        ("a//b", "a_b"),
    ],
)
def test_mlflow_names_are_normalised_to_catalog_names(mlflow_name: str, catalog_name: str) -> None:
    assert check_name(normalised_name(mlflow_name)) == catalog_name


def test_a_name_of_nothing_but_symbols_normalises_to_nothing() -> None:
    assert normalised_name("!!! ???") == ""
