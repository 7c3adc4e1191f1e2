"""Evaluation: feature networks, FID/KID, precision/recall, bits/dim, cost, receptive fields.

- ``inception``: the standard FID Inception-v3 (hash-checked TorchScript) → (N, 2048) features
- ``domain``: a small classifier trained on the dataset → quick FID proxy, conditional accuracy
- ``stats`` / ``fid``: (μ, Σ) with an .npz cache; FID, KID
- ``precision_recall``: improved precision and recall (k-NN manifolds)
- ``likelihood``: bits/dim from nats per image (the only place of that conversion)
- ``cost``: parameters, counted FLOPs, latency, peak memory
- ``receptive_field``: effective receptive-field maps
"""

from trigen.eval.cost import count_flops, count_parameters, latency, peak_memory
from trigen.eval.domain import DomainClassifier, inception_score
from trigen.eval.fid import fid, frechet_distance, kid
from trigen.eval.inception import InceptionFeatures
from trigen.eval.likelihood import bits_per_dim, evaluate_nll
from trigen.eval.precision_recall import precision_recall
from trigen.eval.receptive_field import ar_receptive_field, receptive_field
from trigen.eval.stats import FeatureStats, StatsKey, reference_stats

__all__ = [
    "DomainClassifier",
    "FeatureStats",
    "InceptionFeatures",
    "StatsKey",
    "ar_receptive_field",
    "bits_per_dim",
    "count_flops",
    "count_parameters",
    "evaluate_nll",
    "fid",
    "frechet_distance",
    "inception_score",
    "kid",
    "latency",
    "peak_memory",
    "precision_recall",
    "receptive_field",
    "reference_stats",
]
