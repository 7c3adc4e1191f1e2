"""What one training image costs in FLOPs: the family's loss forward and its backward, counted.

Training FLOPs are counted, not estimated: torch's counter (:func:`trigen.eval.cost.count_flops`)
runs ``family.loss`` on one image of a real batch, with its class label, named conditions and
whatever the family draws, then the backward. The usual rule of thumb, backward ≈ 2 × forward
(3 × forward per image in all), holds for the matmuls and convolutions here; counting instead
also gets attention's backward (2.5 × its forward: it recomputes the scores) and a frozen
encoder's forward without a backward right. Every operator scales with the batch, so a batch
of B costs B × the one image's FLOPs, and a run that saw N images spent N × that many.
"""

from __future__ import annotations

import torch

from trigen.batch import Batch
from trigen.eval.cost import count_flops
from trigen.families.base import Family
from trigen.train.state import ResumableLoader

PROBE_SEED = 0  # the noise, timesteps and label dropout of the counted step (its cost is the same)


def training_flops_per_image(family: Family, loader: ResumableLoader, device: torch.device) -> int:
    """FLOPs of one image's forward and backward through ``family.loss`` on ``device``.

    The image is the first of the batch ``loader`` yields next; the loader is put back where it
    was, so training still starts with that batch. What the counted step changes is undone: the
    RNG states are forked, module buffers (a VQ codebook's statistics) restored, gradients
    dropped. Call it on the bare network, before DDP, FSDP, compilation or recomputation
    change how the work is laid out (the count is of the model, not of that layout).
    """
    state = loader.state_dict()
    batch = next(iter(loader))
    loader.load_state_dict(state)
    conds = {name: value[:1] for name, value in batch.conds.items()}
    one = Batch(batch.images[:1], batch.labels[:1], conds).to(device)
    net = family.net
    buffers = [b.detach().clone() for b in net.buffers()]
    cuda = [device] if device.type == "cuda" else []
    generator = torch.Generator(device).manual_seed(PROBE_SEED)
    try:
        with torch.random.fork_rng(devices=cuda), torch.enable_grad():
            return count_flops(lambda: family.loss(one, generator).float().mean().backward())
    finally:
        with torch.no_grad():
            for buffer, saved in zip(net.buffers(), buffers, strict=True):
                buffer.copy_(saved)
        net.zero_grad(set_to_none=True)
