"""Ablation of the weak losses and of the cross-modality interaction.

Trains the weak point network once with everything on and once more with each part switched off
(same samples, seed and schedule), and compares the 3D accuracy of its joints on the training
recordings themselves, i.e. the quality of the pseudo-labels it would write. Ground truth, which
synthetic recordings carry, is read only for this comparison. Writes ``ablation.json`` and
``ablation.md`` into ``--out``.

Example::

    python -m unipose_training.weak.ablation --config config/weak/reduced.yaml \\
        --samples runs/weak_reduced/samples --out reports/weak_reduced
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from unipose_training.weak.pipeline import load_pipeline_config
from unipose_training.weak.train import WeakTrainConfig, sample_files, train_weak

#: What each row switches off.
VARIANTS: tuple[str, ...] = ("all", "ray", "bone", "symmetry", "temporal", "consistency", "surface",
                             "surface_body_depth", "cross_modal")


def variant_config(cfg: WeakTrainConfig, variant: str) -> WeakTrainConfig:
    """``cfg`` with ``variant`` switched off: a loss term, the body-depth offsets of the surface
    term (``surface_body_depth``) or the teacher keypoint channels (``cross_modal``)."""
    if variant == "all":
        return cfg
    if variant == "cross_modal":
        return replace(cfg, model=replace(cfg.model, point_features=0))
    if variant == "surface_body_depth":
        return replace(cfg, losses=replace(cfg.losses, surface_body_depth=False))
    if not hasattr(cfg.losses, f"use_{variant}"):
        raise ValueError(f"unknown ablation variant {variant!r}: use {VARIANTS}")
    return replace(cfg, losses=replace(cfg.losses, **{f"use_{variant}": False}))


def run_ablation(cfg: WeakTrainConfig, samples: Path, out: Path, variants: tuple[str, ...] = VARIANTS,
                 progress: bool = False) -> dict:
    """Train every variant (each resumes from ``out/ablation_runs/<variant>`` if interrupted) and
    return ``{variant: {"mpjpe_mm", "map_10cm", "ray_px", "seconds"}}``."""
    results: dict[str, dict] = {}
    shards = sample_files(samples)
    for v in variants:
        t0 = time.monotonic()
        res = train_weak(variant_config(cfg, v), shards, out / "ablation_runs" / v, resume=True, progress=progress,
                         log=lambda _m: None)
        m = res.metrics or {}
        results[v] = {"mpjpe_mm": m.get("mpjpe_mm"), "map_10cm": m.get("map_10cm"), "ray_px": m.get("ray_px"),
                      "samples": m.get("samples"), "seconds": round(time.monotonic() - t0, 1)}
        print(f"{v:>20}: {results[v]}", flush=True)
    return results


def format_ablation(results: dict) -> str:
    """Markdown table with the change of each variant against ``all`` and whether the part helps."""
    base = results.get("all", {})
    lines = ["| switched off | 3D error (mm) | change | mAP@10cm | reprojection (px) | the part helps |",
             "|---|---:|---:|---:|---:|---|"]
    for v, m in results.items():
        e, b = m.get("mpjpe_mm"), base.get("mpjpe_mm")
        change = f"{100 * (e / b - 1):+.1f} %" if e is not None and b and v != "all" else ""
        helps = "" if v == "all" or e is None or b is None else ("yes" if e > b else "no")
        label = "nothing (all on)" if v == "all" else v
        lines.append(f"| {label} | {_fmt(e, '{:.1f}')} | {change} | {_fmt(m.get('map_10cm'), '{:.3f}')} | "
                     f"{_fmt(m.get('ray_px'), '{:.1f}')} | {helps} |")
    return "\n".join(lines)


def _fmt(value: float | None, fmt: str) -> str:
    return fmt.format(value) if value is not None else "-"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Ablate the weak losses and the cross-modality interaction.")
    ap.add_argument("--config", type=Path, required=True, help="pipeline YAML (its weak: section is used)")
    ap.add_argument("--samples", type=Path, required=True, help="sample shards with ground truth (samples stage)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--epochs", type=int, help="override the weak schedule's length (every variant alike)")
    args = ap.parse_args(argv)
    cfg = load_pipeline_config(args.config).weak
    if args.epochs is not None:
        cfg = replace(cfg, epochs=args.epochs)
    args.out.mkdir(parents=True, exist_ok=True)
    results = run_ablation(cfg, args.samples, args.out, tuple(args.variants))
    (args.out / "ablation.json").write_text(json.dumps({"config": str(args.config), "samples": str(args.samples),
                                                        "epochs": cfg.epochs, "results": results}, indent=1))
    (args.out / "ablation.md").write_text("# Ablation of the weak losses\n\n" + format_ablation(results) + "\n")
    print(format_ablation(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
