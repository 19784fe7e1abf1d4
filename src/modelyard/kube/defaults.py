"""The export's defaults, apart from the manifests so that the CLI shows them in `--help`
without importing what renders them."""

DEFAULT_KUBERNETES_VERSION = "1.31"
DEFAULT_NAMESPACE = "modelyard"
DEFAULT_S3_SECRET = "modelyard-s3"
# Triton 2.51, the release the local server (nvidia-pytriton) runs.
DEFAULT_TRITON_IMAGE = "nvcr.io/nvidia/tritonserver:24.10-py3"
DEFAULT_GATEWAY_IMAGE = "haproxy:2.6"
