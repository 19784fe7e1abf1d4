"""The use cases: each operation once, over an explicit `Context`.

Groups depend on each other one way: `catalog` (registration, lookup, aliases) <- `build`
(select -> validate -> compile -> place, once per operation) <- `rollout` (targets:
deploy, status, undeploy, history) <- `insight` (perf, measurements, the HTML report).
The CLI, the REST API and the Python `Workspace` all call these functions.
"""
