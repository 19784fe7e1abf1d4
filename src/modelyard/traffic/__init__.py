"""Traffic control: how a model's requests are split between its versions (pure, in
`split`), and the gateway that applies the split in front of Triton (HAProxy, in
`haproxy`): its configuration, map files, process and runtime API.
"""
