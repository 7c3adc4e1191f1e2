"""Training step (forward, backward, AdamW): trigen vs peers at equal configs, A/B interleaved.

    python benchmarks/peers_train.py [--pairs dit,unet,ar] [--configs tiny[,small]]
        [--precisions fp32,bf16] [--steps 10] [--threads N] [--device cpu|cuda]

Pairs (each side built from the same trigen config; the peer config comes from trigen.interop,
which proves equality by loading trigen's weights into the peer exactly):
- dit:  trigen DiT (DiT-T/4 at 28×28×1 tiny; DiT-S/2 at 32×32×4 small) vs diffusers
        DiTTransformer2DModel; peer step = plain ε-MSE with DDPMScheduler.add_noise.
- unet: trigen unet-tiny vs diffusers UNet2DModel (scale-shift time conditioning, same channels,
        blocks, GroupNorm groups, attention levels and head width).
- ar:   trigen ar-tiny (width 128, depth 4, heads 4; class token + 784 pixels) vs HF
        GPT2LMHeadModel (n_embd 128, n_layer 4, n_head 4, dropout 0, 785 positions).
trigen's side is ``family.loss(batch).mean()`` (its real objective: v-prediction with min-SNR
weighting and label dropout for diffusion; CE for AR); both sides use AdamW with fp32 master
weights and bf16 autocast for "bf16". Medians over ``--steps`` interleaved steps after warm-up;
model FLOP/s (torch's FlopCounter on one step) is reported as a fraction of the GEMM peak measured
in the same run (MFU). Writes benchmarks/results/peers_train[_<tag>].{json,md}.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
import torch.nn.functional as F

from _common import (
    add_run_options,
    autocast,
    gemm_peak,
    gpt2_peer,
    interleaved,
    markdown_table,
    median,
    start_run,
    write,
)
from trigen.batch import Batch
from trigen.build import DataSpec, build_family
from trigen.config import FamilyName, TrainConfig
from trigen.eval.cost import count_flops, count_parameters, peak_memory

NUM_CLASSES = 10
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
TRAIN_T = 1000  # DDPM timesteps of the peer's scheduler
# pair → config → (trigen family, preset, image shape (C, H, W), batch)
CONFIGS = {
    "dit": {
        "tiny": (FamilyName.DIT, "DiT-T/4", (1, 28, 28), 64),
        "small": (FamilyName.DIT, "DiT-S/2", (4, 32, 32), 16),
    },
    "unet": {"tiny": (FamilyName.UNET, "unet-tiny", (1, 28, 28), 64)},
    "ar": {"tiny": (FamilyName.AR, "ar-tiny", (1, 28, 28), 16)},
}
Step = Callable[[], object]


def random_batch(shape: tuple[int, int, int], batch: int, device: torch.device) -> Batch:
    g = torch.Generator().manual_seed(0)
    images = torch.rand(batch, *shape, generator=g) * 2 - 1
    return Batch(images.to(device), torch.randint(NUM_CLASSES, (batch,), generator=g).to(device))


def adamw_step(params, loss_fn: Callable[[], torch.Tensor]) -> Step:
    """One zero_grad → loss → backward → AdamW step, as a closure."""
    opt = torch.optim.AdamW(params, lr=1e-4)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn().backward()
        opt.step()

    return step


def maybe_compile(model: torch.nn.Module, compile_: bool) -> torch.nn.Module:
    """``torch.compile(model)`` (inductor, default mode) when asked, else ``model`` itself."""
    return torch.compile(model) if compile_ else model


def trigen_step(
    family_name, preset, shape, batch, precision, device, compile_: bool = False
) -> tuple[Step, torch.nn.Module]:
    cfg = TrainConfig(family=family_name, model=preset, batch_size=batch)
    torch.manual_seed(0)
    fam = build_family(cfg, DataSpec(shape, NUM_CLASSES), device)
    net = fam.net
    fam.net = maybe_compile(net, compile_)  # families are plain dataclasses holding `net`
    data = random_batch(shape, batch, device)

    def loss() -> torch.Tensor:
        with autocast(precision, device):
            return fam.loss(data).float().mean()

    return adamw_step(net.parameters(), loss), net


def peer_step(
    pair, net, shape, batch, precision, device, compile_: bool = False
) -> tuple[Step, torch.nn.Module]:
    """The peer built at ``net``'s config, and its plain training step."""
    data = random_batch(shape, batch, device)
    torch.manual_seed(0)
    if pair == "ar":
        c = net.cfg
        model = gpt2_peer(net, NUM_CLASSES, device)
        run = maybe_compile(model, compile_)
        pixels = ((data.images.flatten(1) + 1) * 127.5).round().long().clamp(0, 255)
        ids = torch.cat([(c.vocab_size + data.labels)[:, None], pixels], dim=1)  # (B, 785)

        def loss() -> torch.Tensor:
            with autocast(precision, device):
                logits = run(input_ids=ids).logits[:, :-1]
            return F.cross_entropy(logits.float().flatten(0, 1), ids[:, 1:].flatten())

        return adamw_step(model.parameters(), loss), model
    import diffusers

    if pair == "dit":
        from trigen.interop.diffusers_dit import dit_diffusers_config

        model = diffusers.DiTTransformer2DModel(**dit_diffusers_config(net.cfg))
    else:
        from trigen.interop.diffusers_unet import unet_diffusers_config

        model = diffusers.UNet2DModel(**unet_diffusers_config(net))
    model = model.to(device).train()
    run = maybe_compile(model, compile_)
    sched = diffusers.DDPMScheduler(num_train_timesteps=TRAIN_T)

    def loss() -> torch.Tensor:
        noise = torch.randn_like(data.images)
        t = torch.randint(TRAIN_T, (batch,), device=device)
        x_t = sched.add_noise(data.images, noise, t)
        with autocast(precision, device):
            if pair == "dit":
                out = run(x_t, timestep=t, class_labels=data.labels).sample
            else:
                out = run(x_t, t, class_labels=data.labels).sample
        return F.mse_loss(out.float(), noise)

    return adamw_step(model.parameters(), loss), model


def bench_pair(pair: str, size: str, args, peaks: dict[str, float]) -> list[dict]:
    family_name, preset, shape, batch = CONFIGS[pair][size]
    batch = args.batch or batch
    rows = []
    for precision in args.precisions.split(","):
        dev, comp = args.device, args.compile
        ours, net = trigen_step(family_name, preset, shape, batch, precision, dev, comp)
        theirs, model = peer_step(pair, net, shape, batch, precision, dev, comp)
        steps = {"trigen": ours, "peer": theirs}
        # the first step allocates activations, gradients and AdamW state; later steps reuse
        # memory the allocator (CPU: glibc) keeps, so an RSS delta of a later step reads ~0
        mems = {side: peak_memory(fn, args.device) for side, fn in steps.items()}
        times = interleaved(steps, steps=args.steps, warmup=args.warmup, device=args.device)
        for side, fn in steps.items():
            module = net if side == "trigen" else model
            sec = median(times[side])
            flops = count_flops(fn)
            mem = mems[side]
            rows.append(
                {
                    "pair": pair,
                    "config": size,
                    "side": side,
                    "model": preset if side == "trigen" else type(module).__name__,
                    "precision": precision,
                    "compiled": args.compile,
                    "batch": batch,
                    "image_shape": list(shape),
                    "params": count_parameters(module),
                    "step_ms": round(1000 * sec, 1),
                    "images_per_s": round(batch / sec, 2),
                    "gflop_per_step": round(flops / 1e9, 2),
                    "mfu": round(flops / sec / 1e9 / peaks[precision], 4),
                    "peak_mem_added_mb": round(mem.added_bytes / 2**20, 1),
                    "peak_rss_mb": round(mem.peak_bytes / 2**20, 1),
                    "step_times_s": [round(t, 4) for t in times[side]],
                }
            )
            print({k: v for k, v in rows[-1].items() if k != "step_times_s"}, flush=True)
    return rows


def ratios(rows: list[dict]) -> list[dict]:
    """trigen/peer img/s per (pair, config, precision), and each side in its fastest precision."""
    out = []
    keys = sorted({(r["pair"], r["config"]) for r in rows})
    for pair, size in keys:
        sel = [r for r in rows if r["pair"] == pair and r["config"] == size]
        by = {(r["side"], r["precision"]): r["images_per_s"] for r in sel}
        for prec in sorted({r["precision"] for r in sel}):
            out.append(
                {
                    "pair": pair,
                    "config": size,
                    "precision": prec,
                    "ratio": round(by[("trigen", prec)] / by[("peer", prec)], 2),
                }
            )
        best = {
            s: max(r["images_per_s"] for r in sel if r["side"] == s) for s in ("trigen", "peer")
        }
        out.append(
            {
                "pair": pair,
                "config": size,
                "precision": "best of each",
                "ratio": round(best["trigen"] / best["peer"], 2),
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default="dit,unet,ar")
    parser.add_argument("--configs", default="tiny", help="tiny and/or small (DiT-S/2 only)")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--batch", type=int, default=0, help="0: each config's own batch")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile both sides' networks (fair A/B)"
    )
    add_run_options(parser)
    args = parser.parse_args()
    env = start_run(args)
    peaks = {p: gemm_peak(args.device, DTYPES[p])[0] for p in args.precisions.split(",")}
    print("GEMM peak GFLOP/s", peaks, flush=True)
    rows = []
    for pair in args.pairs.split(","):
        for size in args.configs.split(","):
            if size in CONFIGS[pair]:
                rows += bench_pair(pair, size, args, peaks)
    rat = ratios(rows)
    record = {"environment": env, "gemm_peak_gflops": peaks, "rows": rows, "ratios": rat}
    table = markdown_table(
        [
            "pair",
            "config",
            "side",
            "model",
            "prec",
            "batch",
            "params",
            "img/s",
            "step ms",
            "GFLOP/step",
            "MFU",
            "1st-step MB",
        ],
        [
            [
                r["pair"],
                r["config"],
                r["side"],
                r["model"],
                r["precision"],
                r["batch"],
                f"{r['params']:,}",
                r["images_per_s"],
                r["step_ms"],
                r["gflop_per_step"],
                f"{100 * r['mfu']:.1f}%",
                r["peak_mem_added_mb"],
            ]
            for r in rows
        ],
    )
    table += ["", "GEMM peak (GFLOP/s): " + ", ".join(f"{k} {v:.1f}" for k, v in peaks.items()), ""]
    table += markdown_table(
        ["pair", "config", "precision", "trigen / peer img/s"],
        [[r["pair"], r["config"], r["precision"], r["ratio"]] for r in rat],
    )
    name = "peers_train" + (f"_{args.tag}" if args.tag else "")
    write(name, record, table, args.out)


if __name__ == "__main__":
    main()
