"""Shadow arms without servers: the `--shadow` value, the route's map entry, and the
configurations that make HAProxy hand drawn requests to nginx and nginx copy them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from modelyard import InputError
from modelyard.traffic import nginx
from modelyard.traffic.haproxy import render_config
from modelyard.traffic.split import MAX_ARMS, Route, RouteArm, RouteShadow, parse_shadow
from tests.support.gateway import needs_nginx


def test_a_shadow_parses() -> None:
    assert parse_shadow(" 3.2 = 20% ", ["3.0", "3.1"]) == ("3.2", 20)
    assert parse_shadow("3.2=100") == ("3.2", 100)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("3.2", "expected VERSION=PERCENT, e.g. 3.2=20"),
        ("3=20", "MAJOR.MINOR"),
        ("3.2=0", "a percent, 1 to 100"),
        ("3.2=101", "a percent, 1 to 100"),
        ("3.2=-5", "a percent, 1 to 100"),
        ("3.1.0=20", r"3.1.0 is an arm \(3.0, 3.1\); a shadow is a version clients never get"),
    ],
)
def test_a_bad_shadow_is_refused(value: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_shadow(value, ["3.0", "3.1"])


def test_the_shadow_rides_in_the_route_entry() -> None:
    arms = (RouteArm(1, "1.0", 90), RouteArm(2, "2.0", 10))
    route = Route("m", arms, key="7", shadow=RouteShadow(3, "3.0", 20))
    fields = route.entry().split("|")
    # HAProxy reads them by position: 3 per arm, the sticky header, the key, the model
    # whose buckets sticky users get, the shadow.
    assert fields[MAX_ARMS * 3 :] == ["-", "7", "m", "3", "20", "3.0"]
    assert Route("m", arms).entry().split("|")[MAX_ARMS * 3 + 3 :] == ["-", "0", "-"]
    with pytest.raises(ValueError, match="1 to 100"):
        Route("m", arms, shadow=RouteShadow(3, "3.0", 0))


def test_haproxy_sends_drawn_requests_to_nginx_and_others_straight_on(tmp_path: Path) -> None:
    config = render_config(tmp_path, port=9000, upstream="127.0.0.1:8000", sticky_headers=[])
    # A client cannot ask for a copy: its own headers go before the draw.
    assert config.index("del-header x-modelyard-shadow\n") < config.index(
        "set-var(txn.shadow_draw)"
    )
    assert "use_backend shadow if routed shadowed" in config
    assert "default_backend triton" in config
    shadow_backend = config.split("backend shadow\n")[1]
    assert f"server nginx unix@{tmp_path / 'shadow.sock'} check" in shadow_backend
    assert "server triton 127.0.0.1:8000 backup" in shadow_backend


def test_nginx_closes_each_connection_and_logs_only_copies(tmp_path: Path) -> None:
    config = nginx.render_config(tmp_path, upstream="127.0.0.1:8000")
    assert "keepalive_timeout 0;" in config
    assert "mirror /_modelyard_shadow;" in config
    assert config.count("access_log off;") == 1
    assert f"access_log {tmp_path / 'shadow.log'} shadow;" in config
    assert "proxy_ignore_client_abort on;" in config


@needs_nginx
def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    proxy = nginx.ShadowProxy(tmp_path)
    proxy.write_config("127.0.0.1:8000")
    done = subprocess.run(
        [
            nginx.nginx_binary(),
            "-t",
            "-p",
            str(tmp_path),
            "-c",
            str(proxy.config),
            "-e",
            str(tmp_path / "test-error.log"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "syntax is ok" in done.stderr


def test_copies_are_counted_from_the_log() -> None:
    text = "7/shadow/3.0 200 0.004\n7/shadow/3.0 502 0.001\n7/shadow/3.0 200 0.003\n- 400 0.000\n"
    counts = nginx.parse_log(text + "garbage\n")
    assert counts["7/shadow/3.0"] == nginx.CopyCounts(answered=2, errors=1)
    assert counts["-"] == nginx.CopyCounts(answered=0, errors=1)
