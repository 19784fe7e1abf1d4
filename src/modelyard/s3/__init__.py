"""S3-compatible storage: `s3://` artifacts (digest at registration, verified copies at
compile), `modelyard push`, and the object store the `triton-s3` target publishes to."""
