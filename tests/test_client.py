"""`modelyard.Client` against the API in process: the same results and errors as the
`Workspace` over the same catalog; failures a real server cannot give on demand (a reset,
a page that is not ours) through an httpx MockTransport."""

from __future__ import annotations

import inspect
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from modelyard import (
    AliasConflict,
    Client,
    Forbidden,
    InputError,
    ModelyardError,
    NotFound,
    ServerUnreachable,
    TritonError,
    Unauthenticated,
    Workspace,
)
from modelyard.api import create_app
from modelyard.ops.catalog import AliasMove
from modelyard.triton.server import free_port
from tests.support.api import REC, SEARCH
from tests.support.netflix import NETFLIX_MODELS

URL = "http://testserver"


@pytest.fixture
def http(netflix: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(netflix), base_url=URL) as test_client:
        yield test_client


def _client(http: TestClient, workspace: Workspace, team: str, role: str) -> Client:
    _, secret = workspace.access.create_token(team, role, f"{role} of {team}", actor="test")
    return Client(URL, secret, http=http)


@pytest.fixture
def admin(http: TestClient, netflix: Workspace) -> Client:
    return _client(http, netflix, REC, "admin")


@pytest.fixture
def search(http: TestClient, netflix: Workspace) -> Client:
    return _client(http, netflix, SEARCH, "maintainer")


def test_reads_give_what_the_workspace_gives(admin: Client, netflix: Workspace) -> None:
    netflix.set_alias("search/query_understanding", "production", "1.5")
    netflix.deprecate("search/content_retrieval@2.0", "use 3.0")
    assert admin.list_models() == netflix.list_models()
    assert admin.list_models(domain="search", all_versions=True) == netflix.list_models(
        domain="search", all_versions=True
    )
    assert admin.version_statuses({"search/content_retrieval"}) == netflix.version_statuses(
        {"search/content_retrieval"}
    )
    for reference in ("search/query_understanding@production", "search/content_retrieval@2.0"):
        assert admin.show(reference) == netflix.show(reference)
    ranker = "recommendation/recommendation_ranker"
    assert admin.dependencies(ranker) == netflix.dependencies(ranker)
    assert admin.impact("search/query_understanding@production") == netflix.impact(
        "search/query_understanding@production"
    )
    assert admin.aliases() == netflix.aliases()
    assert admin.aliases("search/query_understanding") == netflix.aliases(
        "search/query_understanding"
    )
    assert admin.validate(strict=True) == netflix.validate(strict=True)
    assert admin.plan() == netflix.plan()
    assert admin.report() == netflix.report()
    assert admin.history() == netflix.history() == []
    assert admin.rollout_status() == netflix.rollout_status()


def test_writes_go_through_the_server_as_the_token(search: Client, netflix: Workspace) -> None:
    # Under the server's workspace folder (its default `api.artifact_roots`), relative to
    # the manifest's own folder as a local apply reads it.
    assert netflix.root is not None
    shutil.copytree(NETFLIX_MODELS.parent / "artifacts", netflix.root / "artifacts")
    first = (NETFLIX_MODELS / "search.yaml").read_text().split("---\n")[0]
    (netflix.root / "models").mkdir()
    manifest = netflix.root / "models" / "qu.yaml"
    manifest.write_text(first.replace('version: "1.5"', 'version: "1.6"'))
    dry = search.apply([manifest], dry_run=True)
    assert dry.dry_run and dry.created == ["search/query_understanding@1.6"]
    applied = search.apply([manifest])
    assert applied.created == ["search/query_understanding@1.6"]
    assert netflix.show("search/query_understanding@1.6").source == str(manifest)
    assert search.apply([manifest.parent]).unchanged == ["search/query_understanding@1.6"]

    moved = search.set_aliases(
        [
            AliasMove("search/query_understanding", "production", "1.6", expect="none"),
            AliasMove("search/content_retrieval", "production", "2.0"),
        ]
    )
    assert [(a.model_id, a.version, a.revision) for a in moved] == [
        ("search/query_understanding", "1.6", 1),
        ("search/content_retrieval", "2.0", 1),
    ]
    assert search.set_alias("search/query_understanding", "production", "1.5").revision == 2
    assert netflix.aliases("search/query_understanding")[0].version == "1.5"

    yanked = search.yank("search/query_understanding@1.6", "broken tokenizer")
    assert yanked.changed and yanked.status.is_yanked
    assert netflix.show("search/query_understanding@1.6").lifecycle.is_yanked
    assert search.unyank("search/query_understanding@1.6").status.is_yanked is False
    assert search.deprecate("search/query_understanding@1.6", "old").status.is_deprecated
    assert not search.undeprecate("search/query_understanding@1.6").status.is_deprecated
    entries = netflix.access.entries(limit=9)  # newest first; the netflix fixture's apply last
    assert {e.actor for e in entries[:8]} == {f"api:token 1 ({SEARCH}, maintainer)"}


def test_errors_come_back_as_the_classes_raised_there(
    search: Client, http: TestClient, netflix: Workspace
) -> None:
    with pytest.raises(NotFound) as remote:
        search.show("search/nothing")
    with pytest.raises(NotFound) as local:
        netflix.show("search/nothing")
    assert remote.value.message == local.value.message
    assert remote.value.to_dict() == local.value.to_dict()

    search.set_alias("search/query_understanding", "production", "1.5")
    with pytest.raises(AliasConflict, match="production"):
        search.set_alias("search/query_understanding", "production", "1.5", expect="none")
    with pytest.raises(Forbidden, match=REC):
        search.yank("recommendation/user_embedding@1.0", "not ours")
    with pytest.raises(InputError, match="name the version"):
        search.yank("search/query_understanding", "no version")
    with pytest.raises(InputError) as bad:
        search.apply_text("name: x\nversion: one\n", source="models/x.yaml")
    assert bad.value.problems and all(p.source == "models/x.yaml" for p in bad.value.problems)
    with pytest.raises(TritonError, match="unreachable"):
        search.status("local")  # the workspace's `local` target: nothing listens there

    viewer = _client(http, netflix, SEARCH, "viewer")
    with pytest.raises(Forbidden, match="viewer") as refused:
        viewer.set_alias("search/query_understanding", "canary", "1.5")
    assert refused.value.exit_code == 9
    with pytest.raises(Unauthenticated, match=rf"{URL}: unknown token") as unknown:
        Client(URL, "myd_not-a-token", http=http).list_models()
    assert unknown.value.exit_code == 9


def test_apply_reports_every_file_and_sends_nothing_when_one_is_bad(
    admin: Client, netflix: Workspace, tmp_path: Path
) -> None:
    bad_files = tmp_path / "bad"
    bad_files.mkdir()
    (bad_files / "a.yaml").write_text("name: a\nversion: 1.0\ndomain: x\n")
    (bad_files / "b.yaml").write_text("name: [\n")
    with pytest.raises(InputError, match="nothing was applied") as bad:
        admin.apply([bad_files])
    assert {p.source for p in bad.value.problems} == {
        str(bad_files / "a.yaml"),
        str(bad_files / "b.yaml"),
    }
    with pytest.raises(InputError, match="no such file"):
        admin.apply([tmp_path / "missing.yaml"])  # read here: no request is sent
    assert len(netflix.list_models()) == 6


def test_apply_reads_folders_and_seed_json_as_a_local_apply(
    admin: Client, netflix: Workspace, tmp_path: Path
) -> None:
    folder = tmp_path / "models"
    (folder / "nested").mkdir(parents=True)
    head = "model_type: classification\nframework: pytorch\ndomain: x\nowner_team: team\n"
    (folder / "a.yaml").write_text(f'name: a\nversion: "1.0"\n{head}')
    (folder / ".draft.yaml").write_text("name: [broken\n")  # hidden: skipped, as locally
    spec = {
        "name": "b",
        "version": "1.0",
        "model_type": "classification",
        "framework": "pytorch",
        "domain": "x",
        "owner_team": "team",
        "dependencies": ["x/a>=1.0"],
    }
    (folder / "nested" / "b.json").write_text(json.dumps([spec]))
    assert admin.apply([folder]).created == ["x/a@1.0", "x/b@1.0"]
    assert netflix.show("x/b").source == str(folder / "nested" / "b.json")
    assert netflix.dependencies("x/b") == ["x/a@1.0"]


def _mock(handler: httpx.MockTransport) -> Client:
    return Client(
        "http://modelyard.test",
        "t",
        http=httpx.Client(transport=handler, base_url="http://modelyard.test"),
    )


def test_failures_of_the_connection_name_the_server() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection reset by peer", request=request)

    with pytest.raises(ServerUnreachable, match=r"http://modelyard.test cannot be reached") as e:
        _mock(httpx.MockTransport(refuse)).list_models()
    assert e.value.exit_code == 13 and "\n" not in e.value.message

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(ServerUnreachable, match="did not answer within"):
        _mock(httpx.MockTransport(slow)).plan()

    port = free_port()  # nothing listens there
    with pytest.raises(ServerUnreachable, match=f"127.0.0.1:{port}"):
        Client(f"http://127.0.0.1:{port}", "t").validate()


def test_answers_that_are_not_a_modelyard_server() -> None:
    page = httpx.MockTransport(lambda _: httpx.Response(200, text="<html>proxy login</html>"))
    with pytest.raises(ServerUnreachable, match="other than a modelyard server's JSON"):
        _mock(page).list_models()
    gone = httpx.MockTransport(lambda _: httpx.Response(404, text="Not Found"))
    with pytest.raises(ServerUnreachable, match="HTTP 404"):
        _mock(gone).show("search/x")
    older = httpx.MockTransport(
        lambda _: httpx.Response(
            404,
            json={
                "ok": False,
                "error": {"code": "not_found", "message": "Not Found", "field": None},
                "errors": [],
                "status": 404,
            },
        )
    )
    with pytest.raises(ServerUnreachable, match="has no GET /api/v1/specs"):
        _mock(older).list_models()
    internal = httpx.MockTransport(
        lambda _: httpx.Response(
            500,
            json={
                "ok": False,
                "error": {"code": "internal", "message": "internal error: boom", "field": None},
                "errors": [],
                "status": 500,
            },
        )
    )
    with pytest.raises(ModelyardError, match="boom") as failed:
        _mock(internal).plan()
    assert failed.value.exit_code == 70


def test_a_server_url_must_be_http() -> None:
    for url in ("127.0.0.1:8080", "ftp://host", "http://"):
        with pytest.raises(InputError, match="expected an http"):
            Client(url)


def test_each_client_method_is_the_workspace_method_of_its_name() -> None:
    local_only = {"close", "me"}  # the client's own: the connection, who the token is
    for name, method in inspect.getmembers(Client, inspect.isfunction):
        if name.startswith("_") or name in local_only:
            continue
        facade = getattr(Workspace, name)
        remote = inspect.signature(method).parameters
        here = inspect.signature(facade).parameters
        # The same parameters, kinds and defaults; the workspace's may add server-side ones
        # (actor, owner_team, base_dir...), never the other way round.
        for parameter in list(remote.values())[1:]:
            assert parameter.name in here, (name, parameter.name)
            assert here[parameter.name].kind == parameter.kind, (name, parameter.name)
            assert here[parameter.name].default == parameter.default, (name, parameter.name)
        return_annotation = inspect.signature(facade).return_annotation
        assert str(inspect.signature(method).return_annotation) == str(return_annotation), name
