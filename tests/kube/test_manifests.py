"""The rendering alone (pure): a labelled fleet placed by first-fit, read back as objects."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from modelyard.errors import InputError
from modelyard.kube.manifests import (
    KubeModel,
    KubeOptions,
    check_kubernetes_version,
    dns_label,
    layout,
    parse_s3_url,
    render_manifests,
)
from modelyard.placement.fleet import Fleet, Gpu, Server
from modelyard.placement.solver import Demand, place


def _server(name: str, labels: dict[str, str], gpus: int) -> Server:
    return Server(
        name=name,
        cpu_cores=16.0,
        memory_mb=65536,
        labels=labels,
        gpus=[Gpu(index=i, model="A100", memory_mb=40960) for i in range(gpus)],
    )


# Two identical recommendation servers, one search server, one CPU server.
FLEET = Fleet(
    servers=[
        _server("rec_1", {"pool": "rec", "gpu": "a100", "rack": "r1"}, 2),
        _server("rec-2x", {"pool": "rec", "gpu": "a100", "rack": "r2"}, 2),
        _server("search-1", {"pool": "search", "gpu": "a100"}, 1),
        _server("cpu-1", {"pool": "cpu"}, 0),
    ]
)
DEMANDS = [
    Demand(
        "rec/ranker@1.0",
        "rec/ranker",
        "rec",
        "t",
        replicas=2,
        gpu_memory_mb=30000,
        memory_mb=4096,
        cpu_cores=2,
        requires=(("pool", "rec"),),
    ),
    Demand(
        "rec/embed@1.0",
        "rec/embed",
        "rec",
        "t",
        replicas=2,
        instance_count=2,
        gpu_memory_mb=16000,
        memory_mb=2048,
        cpu_cores=1.5,
        requires=(("pool", "rec"),),
    ),
    Demand(
        "search/query@1.0",
        "search/query",
        "search",
        "t",
        replicas=1,
        gpu_memory_mb=8000,
        memory_mb=1024,
        cpu_cores=1,
        requires=(("pool", "search"),),
    ),
    Demand(
        "tools/echo@1.0",
        "tools/echo",
        "tools",
        "t",
        replicas=1,
        memory_mb=512,
        cpu_cores=0.25,
        requires=(("pool", "cpu"),),
    ),
]
MODELS = {
    "rec/ranker": KubeModel("rec.ranker", 0.9999),
    "rec/embed": KubeModel("rec.embed", 0.999),
    "search/query": KubeModel("search.query", 0.99),
    "tools/echo": KubeModel("tools.echo", 0.9),
}
OPTIONS = KubeOptions(repository=parse_s3_url("s3://models/prod"), namespace="serving")


def _objects(**changes: Any) -> dict[tuple[str, str], dict[str, Any]]:
    placement = place(DEMANDS, FLEET)
    assert placement.feasible
    options = KubeOptions(**{**OPTIONS.__dict__, **changes})
    objects = render_manifests(placement, FLEET, MODELS, options)
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def test_identical_servers_are_one_deployment_with_a_replica_each() -> None:
    placement = place(DEMANDS, FLEET)
    objects = _objects()
    rec = objects[("Deployment", "triton-rec-1")]
    assert rec["spec"]["replicas"] == 2
    assert rec["metadata"]["annotations"]["modelyard.io/servers"] == "rec_1,rec-2x"
    # Labels every server of the group carries; `rack` differs between them.
    pod = rec["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"gpu": "a100", "pool": "rec"}
    container = pod["containers"][0]
    gpus_used = {a.gpu_index for a in placement.on("rec_1")}
    assert container["resources"]["limits"]["nvidia.com/gpu"] == str(max(gpus_used) + 1) == "2"
    # Per pod: ranker 4096 + embed 2 x 2048 MiB; 2 + 2 x 1.5 cores.
    assert container["resources"]["requests"] == {"cpu": "5", "memory": "8192Mi"}
    assert container["resources"]["limits"]["memory"] == "8192Mi"
    assert [a for a in container["args"] if a.startswith("--load-model")] == [
        "--load-model=rec.embed",
        "--load-model=rec.ranker",
    ]
    assert "--model-repository=s3://models/prod/rec_1" in container["args"]
    assert "--model-control-mode=explicit" in container["args"]
    assert ("Service", "triton-rec-1") in objects
    assert ("Deployment", "triton-rec-2x") not in objects


def test_a_cpu_server_asks_for_no_gpu() -> None:
    container = _objects()[("Deployment", "triton-cpu-1")]["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert container["resources"] == {
        "requests": {"cpu": "250m", "memory": "512Mi"},
        "limits": {"memory": "512Mi"},
    }


def test_disruption_budgets_follow_replicas_and_never_overlap() -> None:
    objects = _objects()
    budgets = {name: o for (kind, name), o in objects.items() if kind == "PodDisruptionBudget"}
    # The rec set runs every model twice: one pod may go; single-replica sets get none.
    assert sorted(budgets) == ["modelyard-gateway", "triton-rec-1"]
    assert budgets["triton-rec-1"]["spec"]["maxUnavailable"] == 1
    assert budgets["triton-rec-1"]["metadata"]["annotations"]["modelyard.io/availability"] == (
        "0.9999"
    )
    notes = layout(place(DEMANDS, FLEET), FLEET, MODELS).notes
    assert len(notes) == 2 and all("one replica" in n for n in notes)
    # Each Triton pod is selected by at most one budget (eviction refuses two).
    for (kind, _), deployment in objects.items():
        if kind != "Deployment":
            continue
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        selecting = [
            b
            for b in budgets.values()
            if all(labels.get(k) == v for k, v in b["spec"]["selector"]["matchLabels"].items())
        ]
        assert len(selecting) <= 1


def test_the_gateway_routes_each_model_to_the_groups_serving_it() -> None:
    config = _objects()[("ConfigMap", "modelyard-gateway")]["data"]["haproxy.cfg"]
    assert "bind 0.0.0.0:8080" in config
    assert "use_backend triton_2 if { var(txn.served) -m str rec.embed rec.ranker }" in config
    assert (
        "backend triton_2\n    balance roundrobin\n    server s1 triton-rec-1.serving.svc:8000"
        in config
    )
    assert "server s1 triton-rec-1.serving.svc:8000" in config
    assert "server s1 triton-search-1.serving.svc:8000" in config


def test_every_object_passes_kubernetes_validate_strict() -> None:
    for obj in _objects().values():
        kubernetes_validate.validate(obj, "1.31.0", strict=True)


def test_kserve_objects_name_the_triton_runtime_and_the_placement() -> None:
    objects = _objects(format="kserve")
    kinds = sorted({kind for kind, _ in objects})
    assert kinds == ["InferenceService", "PodDisruptionBudget", "ServiceAccount"]
    service = objects[("InferenceService", "triton-rec-1")]
    # kubernetes-validate has no schema for KServe's CRD: it says so instead of passing.
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(service, "1.31.0", strict=True)
    assert service["apiVersion"] == "serving.kserve.io/v1beta1"
    predictor = service["spec"]["predictor"]
    assert predictor["minReplicas"] == predictor["maxReplicas"] == 2
    assert predictor["nodeSelector"] == {"gpu": "a100", "pool": "rec"}
    assert predictor["serviceAccountName"] == "modelyard-s3"
    model = predictor["model"]
    assert model["modelFormat"] == {"name": "triton"}
    assert model["storageUri"] == "s3://models/prod/rec_1"
    assert model["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert "--load-model=rec.ranker" in model["args"]
    assert service["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == (
        "RawDeployment"
    )
    for (kind, _), obj in objects.items():
        if kind != "InferenceService":
            kubernetes_validate.validate(obj, "1.31.0", strict=True)


def test_an_endpoint_in_the_url_goes_to_triton_and_to_kserve_s_account() -> None:
    location = parse_s3_url("s3://minio.local:9000/models/prod/")
    assert location.url("a") == "s3://minio.local:9000/models/prod/a"
    assert location.bucket_url("a") == "s3://models/prod/a"
    objects = _objects(format="kserve", repository=location)
    account = objects[("ServiceAccount", "modelyard-s3")]
    assert account["metadata"]["annotations"] == {
        "serving.kserve.io/s3-endpoint": "minio.local:9000"
    }


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("/srv/repository", "expected s3://bucket/path"),
        ("s3://", "expected s3://bucket/path"),
        ("s3://Models/x", "bucket 'Models' must be"),
        ("s3://models/../x", "must not hold empty"),
    ],
)
def test_a_repository_triton_cannot_read_is_refused(url: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        parse_s3_url(url)


def test_kubernetes_versions_and_names() -> None:
    assert check_kubernetes_version("1.31.0") == "1.31"
    with pytest.raises(InputError, match="expected one of 1.25 to 1.37"):
        check_kubernetes_version("1.24")
    with pytest.raises(InputError, match="--namespace"):
        KubeOptions(repository=parse_s3_url("s3://models/x"), namespace="Prod_1")
    assert dns_label("a" * 80, "triton-").startswith("triton-aaa")
    assert len(dns_label("a" * 80, "triton-")) <= 63


def test_two_servers_with_one_kubernetes_name_are_refused() -> None:
    fleet = Fleet(servers=[_server("gpu_1", {}, 1), _server("gpu-1", {}, 1)])
    demand = Demand("a/b@1.0", "a/b", "a", "t", replicas=2, gpu_memory_mb=1000)
    with pytest.raises(InputError, match="'gpu_1' and 'gpu-1' both become"):
        layout(place([demand], fleet), fleet, {"a/b": KubeModel("a.b", 0.999)})
