"""A flow-matching model in a comparison: no ELBO, so bits/dim is n/a rather than a crash."""

import torch
from torch import nn

from trigen.compare.measure import likelihood_record
from trigen.data.datasets import ImageDataset
from trigen.diffusion.schedules import FlowSchedule, NoiseSchedule
from trigen.experiment.settings import compare_settings
from trigen.families.capabilities import NO_LIKELIHOOD
from trigen.families.diffusion import DiffusionFamily

SHAPE = (1, 4, 4)


class Zero(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, x, t, y):
        return x * self.w


def _test_set() -> ImageDataset:
    images = torch.randint(0, 256, (6, *SHAPE), dtype=torch.uint8)
    return ImageDataset(images, torch.zeros(6, dtype=torch.long), 1, ["0"], "toy")


def test_a_flow_model_reports_no_bits_per_dim_and_a_vp_model_its_elbo():
    settings = compare_settings("smoke")
    flow = DiffusionFamily(Zero(), FlowSchedule(), "v", 0, SHAPE)
    record = likelihood_record(flow, _test_set(), settings)
    assert record["bits_per_dim"] is None and record["kind"] == NO_LIKELIHOOD.kind
    assert record["kind"] == "n/a: no likelihood bound (flow matching or latent diffusion)"
    vp = DiffusionFamily(Zero(), NoiseSchedule.linear(T=10), "eps", 0, SHAPE, nll_num_t=2)
    record = likelihood_record(vp, _test_set(), settings)
    assert record["bits_per_dim"] > 0 and record["kind"] == "ELBO bound"
