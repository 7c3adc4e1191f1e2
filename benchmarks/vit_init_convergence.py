"""Does a DiT converge faster from ViT weights than from scratch? (MNIST, CPU.)

    python benchmarks/vit_init_convergence.py [--pretrain-steps 400] [--steps 600] [--threads 1]

No pretrained ViT is available offline, so trigen first pretrains one itself with
:mod:`trigen.interop.vit_pretrain`: a ViT classifier in timm layout (``patch_embed.proj``,
``cls_token``, ``pos_embed``, ``blocks.N.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1,
mlp.fc2}``, ``norm``, ``head``) with the DiT's width, depth, heads and patch size, trained to
classify MNIST digits. Then two DiT-T/4 models with the same seed,
the same batches, noise and timesteps train for ``--steps`` steps: one from scratch, one with
its blocks and patch embedding initialised by :func:`trigen.interop.vit.init_dit_from_vit`.
The figure is the held-out diffusion loss (fixed test images, timesteps and noise) at equal
steps. Writes benchmarks/results/vit_init_convergence.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from trigen.batch import Batch
from trigen.build import DataSpec, build_family
from trigen.config import FamilyName, TrainConfig
from trigen.data.datasets import load_dataset
from trigen.interop.vit import init_dit_from_vit
from trigen.interop.vit_pretrain import ViTClassifier, classification_accuracy, pretrain_vit

RESULTS = Path(__file__).parent / "results"
PRESET = "DiT-T/4"  # 28×28 → 7×7 tokens of width 128, 6 blocks, 2 heads: CPU-sized
SPEC = DataSpec((1, 28, 28), 10)


def batches(data, batch: int, steps: int, seed: int):
    """``steps`` random training batches, the same sequence for every run with ``seed``."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        yield data[torch.randint(len(data), (batch,), generator=g)]


def pretrained_vit(cfg, train, test: Batch, args) -> tuple[ViTClassifier, dict]:
    """A ViT classifier shaped like the DiT, pretrained by trigen on ``train``."""
    start = time.perf_counter()
    torch.manual_seed(args.seed)
    vit = ViTClassifier(cfg, SPEC.num_classes)
    steps, batch = args.pretrain_steps, args.batch
    pretrain_vit(vit, train, steps=steps, batch_size=batch, seed=args.seed + 1, lr=args.vit_lr)
    accuracy = classification_accuracy(vit, test)
    return vit, {"test_accuracy": accuracy, "seconds": time.perf_counter() - start}


def held_out_loss(family, test: Batch) -> float:
    """Mean diffusion loss on fixed test images with fixed timesteps and noise."""
    family.net.eval()
    with torch.no_grad():
        loss = family.loss(test, generator=torch.Generator().manual_seed(123)).mean().item()
    family.net.train()
    return loss


def train_dit(train_cfg, train, test: Batch, args, vit_state=None) -> dict:
    torch.manual_seed(args.seed)  # identical initial weights wherever the ViT does not load
    family = build_family(train_cfg, SPEC)
    report = None
    if vit_state is not None:
        report = init_dit_from_vit(family.net, vit_state)
    opt = torch.optim.AdamW(family.net.parameters(), lr=args.lr, weight_decay=0.0)
    g = torch.Generator().manual_seed(args.seed + 2)  # the same labels drop, t and noise per run
    curve, start = [(0, held_out_loss(family, test))], time.perf_counter()
    for step, batch in enumerate(batches(train, args.batch, args.steps, args.seed + 3), 1):
        loss = family.loss(batch, generator=g).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % args.eval_every == 0 or step == args.steps:
            curve.append((step, held_out_loss(family, test)))
            print(f"  step {step}: held-out loss {curve[-1][1]:.4f}", flush=True)
    out = {"curve": curve, "seconds": time.perf_counter() - start}
    if report is not None:
        out["loaded"] = len(report.loaded)
        out["skipped"] = {r.name: len(n) for r, n in report.skipped_by_reason().items()}
    return out


def write(results: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "vit_init_convergence.json").write_text(json.dumps(results, indent=1))
    scratch = dict(results["scratch"]["curve"])
    init = dict(results["vit_init"]["curve"])
    a = results["args"]
    lines = [
        "# ViT-initialised vs scratch DiT (MNIST 28×28, CPU)",
        "",
        f"{PRESET}, batch {a['batch']}, AdamW lr {a['lr']}, {a['threads']} thread(s), "
        f"{results['machine']}. ViT pretrained as a classifier for {a['pretrain_steps']} steps "
        f"(test accuracy {results['vit']['test_accuracy']:.3f}, "
        f"{results['vit']['seconds']:.0f} s). Loaded into the DiT: "
        f"{results['vit_init']['loaded']} tensors; skipped: {results['vit_init']['skipped']}.",
        "",
        "Held-out diffusion loss (v-prediction, min-SNR-5 weighting; 512 test images, fixed t "
        "and noise) at equal steps:",
        "",
        "| step | scratch | ViT init | ViT init / scratch |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for step in sorted(scratch):
        ratio = init[step] / scratch[step]
        lines.append(f"| {step} | {scratch[step]:.4f} | {init[step]:.4f} | {ratio:.3f} |")
    (RESULTS / "vit_init_convergence.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pretrain-steps", type=int, default=400)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--vit-lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train, test_set = load_dataset("mnist", "train"), load_dataset("mnist", "test")
    test = test_set[torch.arange(512)]
    train_cfg = TrainConfig(family=FamilyName.DIT, model=PRESET, batch_size=args.batch)
    dit_cfg = build_family(train_cfg, SPEC).net.cfg
    print(f"pretraining a ViT classifier ({args.pretrain_steps} steps)", flush=True)
    vit, vit_info = pretrained_vit(dit_cfg, train, test, args)
    print(f"  test accuracy {vit_info['test_accuracy']:.3f}", flush=True)
    results = {"args": vars(args), "machine": platform.processor() or platform.machine()}
    results["vit"] = vit_info
    print("DiT from scratch", flush=True)
    results["scratch"] = train_dit(train_cfg, train, test, args)
    print("DiT from the ViT", flush=True)
    results["vit_init"] = train_dit(train_cfg, train, test, args, vit.state_dict())
    write(results)


if __name__ == "__main__":
    main()
