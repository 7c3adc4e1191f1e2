"""The transformer feed-forward block shared by DiT and the autoregressive transformer."""

from torch import Tensor, nn


class Mlp(nn.Module):
    """``fc1 → GELU(tanh) → fc2`` on (…, D) → (…, D); names follow the official DiT/timm layout."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))
