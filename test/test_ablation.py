"""The ablation switches: each variant turns exactly one part off, and the table reads right."""
from __future__ import annotations

from dataclasses import asdict

import pytest

pytest.importorskip("torch")

from unipose_training.weak.ablation import VARIANTS, format_ablation, variant_config  # noqa: E402
from unipose_training.weak.train import WeakTrainConfig  # noqa: E402


def test_each_variant_switches_off_one_part() -> None:
    base = WeakTrainConfig()
    assert variant_config(base, "all") == base
    for v in VARIANTS[1:]:
        cfg = variant_config(base, v)
        changed = [k for k, val in asdict(cfg.losses).items() if asdict(base.losses)[k] != val]
        if v == "cross_modal":
            assert cfg.model.point_features == 0 and base.model.point_features == 15 and not changed
        elif v == "surface_body_depth":
            assert changed == ["surface_body_depth"]
        else:
            assert changed == [f"use_{v}"], v
    with pytest.raises(ValueError, match="unknown ablation variant"):
        variant_config(base, "colour")


def test_table_marks_what_helps() -> None:
    table = format_ablation({"all": {"mpjpe_mm": 100.0, "map_10cm": 0.5, "ray_px": 3.0},
                             "ray": {"mpjpe_mm": 150.0, "map_10cm": 0.2, "ray_px": 30.0},
                             "symmetry": {"mpjpe_mm": 90.0, "map_10cm": 0.55, "ray_px": 3.0}})
    rows = table.splitlines()[2:]
    assert rows[0].startswith("| nothing (all on) | 100.0 |")
    assert "| ray | 150.0 | +50.0 % | 0.200 | 30.0 | yes |" == rows[1]
    assert "| symmetry | 90.0 | -10.0 % | 0.550 | 3.0 | no |" == rows[2]
