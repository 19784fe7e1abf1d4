"""Triton: configs (protobuf ModelConfig), atomic repositories, the HTTP API, a local server."""
