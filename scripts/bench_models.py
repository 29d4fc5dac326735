#!/usr/bin/env python3
"""Speed of the pose estimators, measured side by side in one run.

1. Networks alone: latency at batch 1 (one person) and throughput at batch 8 for the depth, colour
   and point-cloud A2J models, on the CPU (all its threads) and, when one is visible, on the GPU
   (fp16, channels_last). Weights come from the bundled checkpoints when present.
2. Estimators on whole frames (person finding + crops + network + uncrop), per frame.
3. The pose node end to end (input stamp -> skeletons received by a subscriber) with real rclpy and
   Fast DDS, frames of a synthetic recording sent at ``--node-fps`` (30 Hz by default), for every
   estimator including the baseline; "added" = end to end - the estimator's own time.

    python scripts/bench_models.py [--resolution 640x480] [--node-frames 90] [--markdown bench.md]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "test"))

KINDS = ("depth", "rgb", "pointcloud")


def _model(kind: str, device: str):
    from unipose_ros.models import A2JConfig, build_model, default_checkpoint, load_checkpoint

    path = default_checkpoint(kind)
    if path.exists():
        return load_checkpoint(path, map_location=device).model, "bundled"
    return build_model(A2JConfig(kind=kind)).to(device).eval(), "untrained (no bundled file)"


def _input(model, batch: int, device: str, channels_last: bool) -> torch.Tensor:
    cfg = model.config
    if cfg.kind == "pointcloud":
        return torch.rand(batch, cfg.n_points, 3, device=device) * 2 - 1
    if cfg.kind == "rgb":
        x = torch.randint(0, 255, (batch, 3, cfg.input_size, cfg.input_size), dtype=torch.uint8, device=device)
    else:
        x = torch.rand(batch, 1, cfg.input_size, cfg.input_size, device=device) * 2 - 1
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def time_model(model, batch: int, device: str, dtype: torch.dtype | None, repeats: int) -> float:
    """Median seconds of one forward pass at ``batch``."""
    channels_last = device.startswith("cuda") and model.config.kind != "pointcloud"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    x = _input(model, batch, device, channels_last)
    times = []
    with torch.inference_mode(), torch.autocast(device.split(":")[0], dtype=dtype, enabled=dtype is not None):
        for i in range(repeats + 5):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            out = model(x)
            out.joints.float().sum().item()  # waits for the result, as a caller reading it would
            if i >= 5:
                times.append(time.perf_counter() - t0)
    return float(np.median(times))


def bench_networks(devices: list[str], repeats: int) -> list[dict]:
    rows = []
    for device in devices:
        for kind in KINDS:
            model, source = _model(kind, device)
            dtype = torch.float16 if device.startswith("cuda") else None
            b1 = time_model(model, 1, device, dtype, repeats)
            b8 = time_model(model, 8, device, dtype, max(repeats // 2, 5))
            params = sum(p.numel() for p in model.parameters())
            rows.append(dict(device=device, kind=kind, source=source, params_m=params / 1e6, b1_ms=b1 * 1e3,
                             b8_ms=b8 * 1e3, b8_per_s=8 / b8, precision="fp16" if dtype else "fp32"))
    return rows


def load_frames(resolution: tuple[int, int], n: int, seed: int) -> list:
    """``n`` synthetic frames (held-out motions) at ``resolution``, one person."""
    from unipose_ros.synthetic.recording import GeneratorConfig, generate_frames
    from unipose_training.datasets.splits import TEST_CLIPS

    cfg = GeneratorConfig(frames=n, fps=15.0, resolution=resolution, seed=seed, motions=list(TEST_CLIPS))
    return [sf.frame for sf in generate_frames(cfg)]


def bench_estimators(names: list[str], frames: list, device: str) -> tuple[list[dict], dict]:
    from unipose_ros.estimators.registry import build_estimator, parse_spec

    rows, built = [], {}
    for name in names:  # NAME[+DETECTOR][=YAML]
        spec, _, yaml_path = name.partition("=")
        base, config = parse_spec(spec)
        est = build_estimator(base, device=device, config=yaml_path or config)
        est.estimate(frames[0])  # warm-up
        times, people = [], 0
        for f in frames:
            t0 = time.perf_counter()
            people += len(est.estimate(f))
            times.append(time.perf_counter() - t0)
        rows.append(dict(name=name, frame_ms=np.median(times) * 1e3, p95_ms=np.percentile(times, 95) * 1e3,
                         people=people / len(frames)))
        built[name] = est
    return rows, built


def bench_node(estimators: dict, frames: list, fps: float, domain: int) -> list[dict]:
    from bench_node_latency import run_node

    inputs = [(f.camera, f.depth, f.rgb) for f in frames]
    return [run_node(est, inputs, fps, domain, label=name) for name, est in estimators.items()]


def format_tables(net: list[dict], est: list[dict], node: list[dict], args) -> str:
    lines = [f"Networks alone ({torch.get_num_threads()} CPU threads; GPU rows when a GPU was visible)", "",
             "| device | model | params (M) | precision | batch 1 (ms/person) | batch 8 (ms) | batch 8 (people/s) "
             "| batch 1 vs depth |", "|---|---|---|---|---|---|---|---|"]
    for r in net:
        ref = next(x for x in net if x["device"] == r["device"] and x["kind"] == "depth")["b1_ms"]
        lines.append(f"| {r['device']} | {r['kind']} ({r['source']}) | {r['params_m']:.2f} | {r['precision']} | "
                     f"{r['b1_ms']:.2f} | {r['b8_ms']:.2f} | {r['b8_per_s']:.0f} | {r['b1_ms'] / ref:.2f}x |")
    lines += ["", f"Estimators on whole {args.resolution} frames (person finding + crops + network), "
              f"{len(est) and args.frames} frames", "",
              "| estimator | per frame p50 (ms) | p95 (ms) | people per frame | vs depth |", "|---|---|---|---|---|"]
    ref = next((r["frame_ms"] for r in est if r["name"] == "depth"), None)
    for r in est:
        ratio = f"{r['frame_ms'] / ref:.2f}x" if ref else "-"
        lines.append(f"| {r['name']} | {r['frame_ms']:.1f} | {r['p95_ms']:.1f} | {r['people']:.2f} | {ratio} |")
    if node:
        lines += ["", f"Pose node end to end, input at {args.node_fps:g} Hz ({args.resolution}, real rclpy + Fast DDS; "
                  "the node drops frames that arrive while it is busy)", "",
                  "| estimator | frames out / in | end to end p50 (ms) | p95 (ms) | estimator p50 (ms) | "
                  "node adds p50 (ms) | node adds (% of estimator) |", "|---|---|---|---|---|---|---|"]
        for r in node:
            pct = 100 * r["added_med"] / r["est_med"] if r["est_med"] > 0 else float("nan")
            lines.append(f"| {r['label']} | {r['received']} / {r['sent']} | {r['e2e_med']:.1f} | {r['e2e_p95']:.1f} | "
                         f"{r['est_med']:.1f} | {r['added_med']:.1f} | {pct:.0f} % |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--resolution", default="640x480")
    ap.add_argument("--frames", type=int, default=30, help="frames for the whole-frame estimator timing")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--estimators", nargs="+", default=["baseline", "depth", "depth+learned", "rgb", "pointcloud", "fused"],
                    help="registry names; NAME+learned finds people with the learned person detector")
    ap.add_argument("--node-fps", type=float, default=30.0)
    ap.add_argument("--node-frames", type=int, default=90, help="0 skips the node benchmark")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                    help="device of the estimators in parts 2 and 3")
    ap.add_argument("--domain", type=int, default=int(os.environ.get("ROS_DOMAIN_ID", 58)))
    ap.add_argument("--markdown", type=Path, help="also write the tables to this file")
    args = ap.parse_args()
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    from unipose_ros.ros.dds import use_large_data_profile

    use_large_data_profile(os.environ)
    resolution = tuple(int(v) for v in args.resolution.lower().split("x"))
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    net = bench_networks(devices, args.repeats)
    frames = load_frames(resolution, max(args.frames, args.node_frames), seed=9100)
    est_rows, built = bench_estimators(args.estimators, frames[:args.frames], args.device)
    node_rows = bench_node(built, frames[:args.node_frames], args.node_fps, args.domain) if args.node_frames else []
    for est in built.values():
        est.close()
    text = format_tables(net, est_rows, node_rows, args)
    print("\n" + text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
