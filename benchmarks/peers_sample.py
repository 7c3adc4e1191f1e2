"""Sampling latency of trigen vs its peers on equal networks, A/B interleaved in one process.

    python benchmarks/peers_sample.py [--net unet|dit] [--diff-batch 64] [--steps 50] [--compile]
        [--ar-batch 16] [--tokens 784] [--latency-batches 1,4,16,64] [--repeats 3] [--threads N]
        [--parts diffusion,diffusion-batches,ar,batches]

- Diffusion: trigen ``DiffusionFamily.sample`` (DDIM, ``--steps`` NFE) vs diffusers'
  ``DDIMScheduler`` loop (same schedule: cosine / v-prediction / trailing spacing / clipping)
  calling diffusers' own network (``UNet2DModel`` / ``DiTTransformer2DModel``) holding trigen's
  weights exactly (trigen.interop), i.e. model + scheduler vs model + scheduler; with
  ``--peer-net same`` the loop calls the trigen network instead (measures the loop alone).
  NFE is counted on each side's network by a forward hook. ``--compile`` compiles both networks
  (trigen: :func:`trigen.inference.compile_for_inference`, the path of ``trigen sample
  --compile``; peer: ``torch.compile(model, dynamic=False)``); the first call's time, which
  includes compiling, is reported apart.
- Autoregressive: trigen ``generate`` (KV cache) vs HF ``GPT2LMHeadModel.generate(do_sample=True,
  use_cache=True, top_k=0)`` at equal size (ar-tiny: width 128, depth 4, heads 4), ``--tokens``
  new tokens after the class token.
- Latency vs batch size (``--latency-batches``): trigen's AR sampling (``batches``) and diffusion
  sampling at ``--steps`` NFE (``diffusion-batches``), ms per image: where batching stops paying.
Randomly initialised networks: latency does not depend on the weights. Medians of ``--repeats``
whole sampling calls after one warm-up call. Writes benchmarks/results/peers_sample[_<tag>].*.
"""

from __future__ import annotations

import argparse

import torch

from _common import (
    add_run_options,
    autocast,
    gpt2_peer,
    interleaved,
    markdown_table,
    median,
    start_run,
    timed,
    write,
)
from trigen.autoregressive.generate import generate
from trigen.build import DataSpec, build_family
from trigen.config import FamilyName, TrainConfig
from trigen.families.base import SampleSpec
from trigen.inference import compile_for_inference

NUM_CLASSES = 10
MNIST = (1, 28, 28)
NETS = {"unet": (FamilyName.UNET, "unet-tiny"), "dit": (FamilyName.DIT, "DiT-T/4")}


class CallCounter:
    """Counts forward calls of a module (the NFE of a sampler)."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.calls = 0
        module.register_forward_hook(self._hook)

    def _hook(self, *_) -> None:
        self.calls += 1

    def count(self, fn) -> int:
        self.calls = 0
        fn()
        return self.calls


class DiffusersNet(torch.nn.Module):
    """diffusers' model behind trigen's backbone signature ``(x, t, y) → output``."""

    def __init__(self, model: torch.nn.Module, timestep_kw: bool) -> None:
        super().__init__()
        self.model, self.timestep_kw = model, timestep_kw

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.timestep_kw:  # DiTTransformer2DModel
            return self.model(x, timestep=t, class_labels=y).sample
        return self.model(x, t, class_labels=y).sample


def diffusion_family(args):
    """The trigen diffusion family of ``--net`` (seeded weights) in eval mode, and its preset."""
    family_name, preset = NETS[args.net]
    torch.manual_seed(0)
    fam = build_family(TrainConfig(family=family_name, model=preset), DataSpec(MNIST, NUM_CLASSES))
    fam.net.to(args.device).eval()
    return fam, preset


def peer_network(net_name: str, net: torch.nn.Module, which: str) -> torch.nn.Module:
    """The network the diffusers loop calls: diffusers' equal of ``net``, or ``net`` itself."""
    if which == "same":
        return net
    if net_name == "dit":
        from trigen.interop.diffusers_dit import dit_to_diffusers

        return DiffusersNet(dit_to_diffusers(net), timestep_kw=True).eval()
    from trigen.interop.diffusers_unet import unet_to_diffusers

    return DiffusersNet(unet_to_diffusers(net), timestep_kw=False).eval()


def bench_diffusion(args) -> list[dict]:
    from diffusers import DDIMScheduler

    fam, preset = diffusion_family(args)
    peer_net = peer_network(args.net, fam.net, args.peer_net).to(args.device)
    if args.compile:  # each side its own way: trigen's sampling path, torch.compile for the peer
        compile_for_inference(fam.net)
        if isinstance(peer_net, DiffusersNet):
            peer_net.model = torch.compile(peer_net.model, dynamic=False)
    counters = {"trigen": CallCounter(fam.net), "diffusers-ddim-loop": CallCounter(peer_net)}
    labels = torch.arange(args.diff_batch, device=args.device) % NUM_CLASSES
    spec = SampleSpec(sampler="ddim", steps=args.steps)
    sched = DDIMScheduler(
        num_train_timesteps=len(fam.schedule.alphas_cumprod),
        beta_schedule="squaredcos_cap_v2",
        prediction_type="v_prediction",
        timestep_spacing="trailing",
        clip_sample=True,
        set_alpha_to_one=False,
    )

    def ours() -> torch.Tensor:
        with autocast(args.precision, args.device):
            return fam.sample(labels, spec, torch.Generator(args.device).manual_seed(0))

    @torch.no_grad()
    def theirs() -> torch.Tensor:
        sched.set_timesteps(args.steps)
        g = torch.Generator(args.device).manual_seed(0)
        x = torch.randn(args.diff_batch, *MNIST, generator=g, device=args.device)
        with autocast(args.precision, args.device):
            for t in sched.timesteps:
                out = peer_net(x, t.expand(x.shape[0]).float().to(args.device), labels)
                x = sched.step(out.float(), t, x).prev_sample
        return x

    fns = {"trigen": ours, "diffusers-ddim-loop": theirs}
    first_call_s = {side: timed(fn, args.device) for side, fn in fns.items()}  # compiles, if asked
    times = interleaved(fns, steps=args.repeats, warmup=1, device=args.device)
    compiled = ", compiled" if args.compile else ""
    return [
        {
            "task": f"diffusion {preset} DDIM, peer net: {args.peer_net}{compiled}",
            "compiled": args.compile,
            "first_call_s": round(first_call_s[side], 1),
            "side": side,
            "batch": args.diff_batch,
            "nfe": counters[side].count(fn),
            "peer_net": args.peer_net,
            "precision": args.precision,
            "s_per_call": round(median(times[side]), 3),
            "ms_per_image": round(1000 * median(times[side]) / args.diff_batch, 2),
            "times_s": [round(t, 3) for t in times[side]],
        }
        for side, fn in fns.items()
    ]


def ar_models(device: torch.device):
    torch.manual_seed(0)
    fam = build_family(TrainConfig(family=FamilyName.AR), DataSpec(MNIST, NUM_CLASSES), device)
    ours = fam.net.eval()
    theirs = gpt2_peer(ours, NUM_CLASSES, device).eval()
    return ours, theirs


def bench_ar(args, ours, theirs) -> list[dict]:
    labels = torch.arange(args.ar_batch, device=args.device) % NUM_CLASSES
    prompt = (ours.cfg.vocab_size + labels)[:, None]  # the class token, HF's "prompt"

    def trigen_gen() -> torch.Tensor:
        g = torch.Generator(args.device).manual_seed(0)
        with autocast(args.precision, args.device):
            return generate(ours, labels, seq_len=args.tokens, generator=g, null_label=NUM_CLASSES)

    @torch.no_grad()
    def hf_gen() -> torch.Tensor:
        torch.manual_seed(0)
        with autocast(args.precision, args.device):
            return theirs.generate(
                input_ids=prompt,
                attention_mask=torch.ones_like(prompt),
                do_sample=True,
                top_k=0,
                top_p=1.0,
                temperature=1.0,
                use_cache=True,
                max_new_tokens=args.tokens,
                min_new_tokens=args.tokens,
                pad_token_id=0,
                eos_token_id=None,
            )

    fns = {"trigen": trigen_gen, "hf-generate": hf_gen}
    times = interleaved(fns, steps=args.repeats, warmup=1, device=args.device)
    shapes = {side: tuple(fn().shape) for side, fn in fns.items()}
    return [
        {
            "task": "AR ar-tiny KV cache",
            "side": side,
            "batch": args.ar_batch,
            "tokens": args.tokens,
            "output_shape": list(shapes[side]),
            "precision": args.precision,
            "s_per_call": round(median(times[side]), 3),
            "ms_per_image": round(1000 * median(times[side]) / args.ar_batch, 2),
            "times_s": [round(t, 3) for t in times[side]],
        }
        for side in fns
    ]


def latency_vs_batch(args, task: str, make_run, work: dict) -> list[dict]:
    """trigen's sampling latency per batch size of ``--latency-batches`` (median of two calls);
    ``make_run(labels)`` is the call, ``work`` the NFE or token count it does."""
    rows = []
    for b in [int(x) for x in args.latency_batches.split(",")]:
        labels = torch.arange(b, device=args.device) % NUM_CLASSES
        run = make_run(labels)
        sec = median(interleaved({"t": run}, steps=2, warmup=1, device=args.device)["t"])
        rows.append(
            {
                "task": task,
                "side": "trigen",
                "batch": b,
                **work,
                "precision": args.precision,
                "s_per_call": round(sec, 3),
                "ms_per_image": round(1000 * sec / b, 2),
            }
        )
        print(rows[-1], flush=True)
    return rows


def bench_batches(args, ours) -> list[dict]:
    """trigen AR sampling (KV cache) latency vs batch size."""

    def make_run(labels):
        def run() -> None:
            g = torch.Generator(args.device).manual_seed(0)
            with autocast(args.precision, args.device):
                generate(ours, labels, seq_len=args.tokens, generator=g, null_label=NUM_CLASSES)

        return run

    return latency_vs_batch(args, "AR latency vs batch", make_run, {"tokens": args.tokens})


def bench_diffusion_batches(args) -> list[dict]:
    """trigen diffusion sampling (DDIM, ``--steps`` NFE) latency vs batch size."""
    fam, preset = diffusion_family(args)
    spec = SampleSpec(sampler="ddim", steps=args.steps)

    def make_run(labels):
        def run() -> None:
            with autocast(args.precision, args.device):
                fam.sample(labels, spec, torch.Generator(args.device).manual_seed(0))

        return run

    task = f"diffusion {preset} DDIM latency vs batch"
    return latency_vs_batch(args, task, make_run, {"nfe": args.steps})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--net", choices=sorted(NETS), default="unet")
    parser.add_argument("--peer-net", choices=("diffusers", "same"), default="diffusers")
    parser.add_argument("--diff-batch", type=int, default=64)
    parser.add_argument(
        "--compile",
        action="store_true",
        help="diffusion: compile both networks (trigen's compile_for_inference, torch.compile)",
    )
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--ar-batch", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=784)
    parser.add_argument("--latency-batches", default="1,4,16,64")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument(
        "--parts",
        default="diffusion,ar,batches",
        help="any of diffusion, diffusion-batches, ar, batches (AR latency vs batch)",
    )
    add_run_options(parser)
    args = parser.parse_args()
    env = start_run(args)
    parts = args.parts.split(",")
    rows = []
    if "diffusion" in parts:
        rows += bench_diffusion(args)
        print(rows[-2:], flush=True)
    if "diffusion-batches" in parts:
        rows += bench_diffusion_batches(args)
    if "ar" in parts or "batches" in parts:
        ours, theirs = ar_models(args.device)
        if "ar" in parts:
            rows += bench_ar(args, ours, theirs)
            print(rows[-2:], flush=True)
        if "batches" in parts:
            rows += bench_batches(args, ours)
    rat = []
    for task in dict.fromkeys(r["task"] for r in rows):
        sel = [r for r in rows if r["task"] == task]
        if len({r["side"] for r in sel}) == 2:
            rat.append(
                {
                    "task": task,
                    "peer_over_trigen_latency": round(
                        sel[1]["ms_per_image"] / sel[0]["ms_per_image"], 2
                    ),
                }
            )
    table = markdown_table(
        ["task", "side", "prec", "batch", "NFE / tokens", "1st call s", "s per call", "ms/image"],
        [
            [
                r["task"],
                r["side"],
                r["precision"],
                r["batch"],
                r.get("nfe", r.get("tokens")),
                r.get("first_call_s", ""),
                r["s_per_call"],
                r["ms_per_image"],
            ]
            for r in rows
        ],
    )
    table += [
        "",
        *markdown_table(
            ["task", "speed-up trigen vs peer"],
            [[r["task"], r["peer_over_trigen_latency"]] for r in rat],
        ),
    ]
    record = {
        "environment": env,
        "args": {k: str(v) for k, v in vars(args).items()},
        "rows": rows,
        "ratios": rat,
    }
    write("peers_sample" + (f"_{args.tag}" if args.tag else ""), record, table, args.out)


if __name__ == "__main__":
    main()
