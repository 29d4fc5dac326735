"""Train the person detector on the renders of ``unipose_training.detection.data``.

    python -m unipose_training.detection.train --data data/detect/train --out runs/detector \\
        --export unipose_ros/checkpoints/person_detector.pt          # --resume continues
    torchrun --nproc_per_node 4 -m unipose_training.detection.train ...   # DDP (gloo / nccl)

Every epoch ends with a checkpoint (``last.pt``: weights, optimiser, epoch), so a stopped run
resumes with ``--resume`` at the next epoch. The exported checkpoint carries its
``DetectorConfig`` and the training provenance.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

from unipose_ros.models.detector import DetectorConfig, PersonDetectorNet
from unipose_training import distributed as dist
from unipose_training.detection.targets import centre_focal_loss, sample


@dataclass(frozen=True)
class DetectorTrainConfig:
    """Trainer settings.

    Attributes:
        epochs, batch_size, lr, weight_decay: optimisation (AdamW, cosine schedule).
        workers: DataLoader workers.
        seed: augmentation and shuffling seed.
        out_hw: training input size (pixels).
        min_pixels: people smaller than this (output pixels) are ignored.
        detector: the network and decoding settings stored in the checkpoint.
    """

    epochs: int = 30
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 1e-4
    workers: int = 1
    seed: int = 0
    out_hw: tuple[int, int] = (240, 320)
    min_pixels: int = 12
    detector: DetectorConfig = field(default_factory=DetectorConfig)


class DetectionFrames(Dataset):
    """Every frame of the ``rec_*.npz`` recordings under ``root``; item ``(epoch, index)`` is an
    augmented sample seeded by (seed, epoch, index), or item ``index`` un-augmented."""

    def __init__(self, root: str | Path | list[Path], cfg: DetectorTrainConfig, augment: bool = True) -> None:
        roots = [Path(r) for r in (root if isinstance(root, (list, tuple)) else [root])]
        files = sorted(f for r in roots for f in r.glob("rec_*.npz"))
        if not files:
            raise FileNotFoundError(f"no rec_*.npz under {[str(r) for r in roots]}: run python -m "
                                    "unipose_training.detection.data first")
        self.depth, self.instance = [], []
        for f in files:
            with np.load(f) as d:
                self.depth += list(d["depth"])
                self.instance += list(d["instance"])
        self.cfg, self.augment = cfg, augment

    def __len__(self) -> int:
        return len(self.depth)

    def __getitem__(self, item):
        epoch, i = item if isinstance(item, tuple) else (0, item)
        rng = np.random.default_rng([self.cfg.seed, epoch, i]) if self.augment else None
        s = sample(self.depth[i], self.instance[i].astype(np.int16), rng, tuple(self.cfg.out_hw), self.cfg.min_pixels)
        return {k: torch.from_numpy(v) for k, v in s.items() if k != "centres"}


def detector_loss(out: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Mask BCE + centre focal loss + offset L1 (on person pixels) of a batch; each term and
    ``total``."""
    w = batch["weight"]
    mask_t = batch["mask"]
    bce = F.binary_cross_entropy_with_logits(out[:, 0], mask_t, reduction="none")
    mask_loss = (bce * w).sum() / w.sum().clamp(min=1.0)
    heat_loss = centre_focal_loss(out[:, 1], batch["heat"], w) / out.shape[0]
    on = mask_t.unsqueeze(1)
    off_loss = (F.l1_loss(out[:, 2:], batch["offset"], reduction="none") * on).sum() / on.sum().clamp(min=1.0)
    total = mask_loss + heat_loss + off_loss
    return {"total": total, "mask": mask_loss, "heat": heat_loss, "offset": off_loss}


def save_detector(path: str | Path, model: PersonDetectorNet, config: DetectorConfig, provenance: dict) -> None:
    """The self-describing detector checkpoint (weights, config, provenance)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"kind": "person_detector", "format": 1, "config": config.to_dict(),
                "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "provenance": provenance}, tmp)
    tmp.replace(path)


def train(cfg: DetectorTrainConfig, data: Path | list[Path], out: Path, resume: bool = False,
          export: Path | None = None, device: str = "auto", max_minutes: float = 0.0, init: Path | None = None) -> dict:
    """Train (or resume) and return the final epoch's mean losses. ``data``: one or more folders
    of recordings. ``max_minutes`` > 0 stops after the epoch that passes it (resume later).
    ``init``: start from the weights of this detector checkpoint (fine-tuning; its network shape
    must equal ``cfg.detector``'s)."""
    info = dist.init_distributed(device)
    torch.manual_seed(cfg.seed)
    ds = DetectionFrames(data, cfg)
    sampler = dist.EpochSampler(ds, shuffle=True, seed=cfg.seed, drop_last=True)
    loader = DataLoader(ds, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.workers,
                        drop_last=True, persistent_workers=cfg.workers > 0)
    model = PersonDetectorNet(cfg.detector)
    if init is not None:
        from unipose_ros.estimators.person_detector import load_detector_checkpoint

        net0, cfg0, _ = load_detector_checkpoint(init)
        if tuple(cfg0.channels) != tuple(cfg.detector.channels):
            raise ValueError(f"--init {init}: channels {cfg0.channels} differ from the config's {cfg.detector.channels}")
        model.load_state_dict(net0.state_dict())
    model = model.to(info.device)
    net = torch.nn.parallel.DistributedDataParallel(model) if info.distributed else model
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * len(loader)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + np.cos(np.pi * min(s, steps) / steps)))
    out.mkdir(parents=True, exist_ok=True)
    start, history = 0, []
    last = out / "last.pt"
    if resume and last.exists():
        state = torch.load(last, map_location=info.device, weights_only=False)
        if state["config"] != json.loads(json.dumps(asdict(cfg))):
            raise ValueError(f"{last} was written with another configuration; use a new --out or drop --resume")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start, history = state["epoch"] + 1, state["history"]
    t0 = time.monotonic()
    for epoch in range(start, cfg.epochs):
        sampler.set_epoch(epoch)
        net.train()
        sums: dict[str, float] = {}
        it = loader
        if info.is_main:
            from tqdm import tqdm

            it = tqdm(loader, desc=f"detector epoch {epoch + 1}/{cfg.epochs}", unit="batch", leave=False)
        for batch in it:
            batch = {k: v.to(info.device) for k, v in batch.items()}
            losses = detector_loss(net(batch["input"]), batch)
            opt.zero_grad(set_to_none=True)
            losses["total"].backward()
            opt.step()
            sched.step()
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + v.item()
        means = {k: v / max(len(loader), 1) for k, v in dist.all_reduce_dict(sums).items()}
        means = {k: float(v) / info.world_size for k, v in means.items()}
        history.append({"epoch": epoch + 1, **means})
        if info.is_main:
            print(json.dumps(history[-1]), flush=True)
            tmp = out / "last.tmp"
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                        "epoch": epoch, "history": history, "config": json.loads(json.dumps(asdict(cfg)))}, tmp)
            tmp.replace(last)
        if max_minutes > 0 and (time.monotonic() - t0) / 60 > max_minutes:
            break
    if info.is_main and export is not None and history and history[-1]["epoch"] == cfg.epochs:
        save_detector(export, model, cfg.detector, {"data": str(data), "frames": len(ds), "epochs": cfg.epochs,
                                                    "init": str(init) if init else None,
                                                    "train_config": json.loads(json.dumps(asdict(cfg))),
                                                    "history": history})
    dist.cleanup()
    return history[-1] if history else {}


def main(argv: list[str] | None = None) -> int:
    from unipose_ros.core.config import load_yaml

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, nargs="+", required=True, help="folders of detector recordings")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--config", type=Path, help="YAML of DetectorTrainConfig")
    ap.add_argument("--init", type=Path, help="start from this detector checkpoint's weights (fine-tune)")
    ap.add_argument("--export", type=Path)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--max-minutes", type=float, default=0.0, help="stop after the epoch that passes this")
    args = ap.parse_args(argv)
    cfg = load_yaml(DetectorTrainConfig, args.config) if args.config else DetectorTrainConfig()
    print(train(cfg, args.data, args.out, args.resume, args.export, args.device, args.max_minutes, args.init))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
