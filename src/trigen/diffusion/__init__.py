"""Diffusion math, networks arriving as callables.

schedules (ᾱ tables, σ grids), process (q_sample and the ε/v/x₀ conversions), objectives (the
denoising loss), samplers (pure functions over a σ grid), likelihood (the DDPM ELBO).
"""
