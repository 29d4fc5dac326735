"""Camera-sized images between two real processes over Fast DDS with the package's profile: a
best-effort subscriber (the pose node's QoS) receives every frame at 30 fps."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("sensor_msgs")

from conftest import DOMAIN_ID  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_transport.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_transport", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("publisher_qos", ["best_effort", "reliable"])
def test_profile_delivers_every_640x480_image_between_processes(publisher_qos):
    bench = load_bench()
    # history for every frame: a subscriber starved by a loaded machine loses none, so only the
    # transport can (the benchmark's rows use the node's depth 5)
    row = bench.run("profile", publisher_qos, 30.0, 45, (640, 480), DOMAIN_ID, depth=45)
    assert row["received"] == row["sent"] == 45, row
    assert row["p50"] < 250.0, row
