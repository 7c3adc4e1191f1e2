"""``trigen compare``: train every family on the same data and budget, measure it, run the studies,
test the claims on it, and render the report."""

from __future__ import annotations

import datetime as dt
import json
import platform
from collections.abc import Callable
from dataclasses import replace
from functools import cache, partial
from pathlib import Path
from typing import Any

import torch

from trigen import api
from trigen.atomic import atomic_write_text
from trigen.claims.context import ClaimContext
from trigen.claims.registry import ENTRIES
from trigen.claims.run import run_claims
from trigen.compare import seeds
from trigen.compare.adherence import adherence_study, check_dataset
from trigen.compare.measure import measure_family
from trigen.compare.pieces import PIECES_DIR, Pieces, open_pieces, settings_record
from trigen.compare.study_runs import run_studies
from trigen.compare.text import captioned_test
from trigen.compare.training import budget_text, train_config, train_or_reuse
from trigen.config import CAPTIONED_DATASETS, FamilyName
from trigen.data.datasets import load_dataset
from trigen.eval.hardware import host_info
from trigen.experiment.settings import ExperimentSettings
from trigen.measure.evaluators import Evaluators
from trigen.provenance import code_commit
from trigen.report.grids import save_grid
from trigen.report.render import RESULTS_FILE, render
from trigen.report.volatile import VOLATILE_FIELDS, timed_claim

Log = Callable[[str], None]


def run_compare(
    s: ExperimentSettings,
    out: Path,
    *,
    cache_dir: Path | None,
    device: torch.device,
    reuse: dict[str, Path] | None = None,
    log: Log = lambda _: None,
    command: str = "",
    progress: Callable[[float, float], None] | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Train (or reuse), measure and report every family of ``s``; returns the results dict.

    ``progress(done, total)`` counts stages: each family's training (advancing with its
    budget) and measurement, each study, each claim asked for, and the report. Each finished
    piece is recorded under ``out/pieces`` (:mod:`trigen.compare.pieces`); ``resume``
    continues the comparison in ``out`` from them, under the same settings only."""
    out, reuse = Path(out), reuse or {}
    record = settings_record(s, reuse, str(device))
    origin = {"command": command, "date": dt.datetime.now().isoformat(timespec="seconds")}
    with open_pieces(out, record, resume=resume, seed=s.seed, origin=origin) as pieces:
        return _compare(s, out, pieces, cache_dir, device, reuse, log, command, progress)


def _compare(
    s: ExperimentSettings,
    out: Path,
    pieces: Pieces,
    cache_dir: Path | None,
    device: torch.device,
    reuse: dict[str, Path],
    log: Log,
    command: str,
    progress: Callable[[float, float], None] | None,
) -> dict[str, Any]:
    """:func:`run_compare` once the output directory's pieces are open."""
    adherence = 1 if s.conditions else 0  # the adherence study's stage
    seeds.check_reuse(s, reuse)
    stages = _Stages(
        2 * len(s.families) * s.seeds + len(s.studies) + adherence + len(s.claims.run) + 1,
        progress,
    )
    train = load_dataset(s.dataset, "train", root=s.data_root, resolution=s.resolution)
    check_dataset(s, train)
    test = load_dataset(s.dataset, "test", root=s.data_root, resolution=s.resolution)
    out.mkdir(parents=True, exist_ok=True)  # after the data loads: a bad dataset leaves no trace
    pieces.begin()
    log(f"evaluators on {s.dataset} {test.shape}")
    ev = Evaluators.build(
        train,
        test,
        reference_images=s.reference_images,
        cache_dir=cache_dir,
        domain_images=s.domain_images,
        device=device,
        log=log,
    )
    # the Inception pass dominates a family's measuring stage: it moves that stage's bar
    ev.progress = lambda done, total: stages.at(done / max(total, 1))
    now = dt.datetime.now().isoformat(timespec="seconds")
    began = pieces.origin()  # a resumed run names the command and date that began it
    results: dict[str, Any] = {
        "meta": {
            "dataset": s.dataset,
            "image_shape": list(test.shape),
            "budget": budget_text(s, reuse or {}),
            "seeds": seeds.describe(s),
            "precision": s.precision,
            "device": str(device),
            "cpu": platform.processor() or platform.machine(),
            "host": host_info().to_dict(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "date": began.get("date") or now,
            "domain_classifier_test_accuracy": ev.domain and ev.domain.info.get("test_accuracy"),
            "command": began.get("command") or command,
        },
        # fields a rerun of the same command may change (trigen.report.volatile)
        "volatile_fields": [
            *VOLATILE_FIELDS,
            *(timed_claim(k) for k in s.claims.run if ENTRIES[k].timed),
        ],
        "families": {},
        "studies": {},
        "notes": [],
    }
    if (commit := code_commit()) is not None:  # the code's commit, where it runs from a checkout
        results["meta"]["commit"] = commit
    if pieces.resume:
        results["meta"]["resumed_with"], results["meta"]["resumed_at"] = command, now
    if (change := pieces.code_change()) is not None:
        results["notes"].append(change)
        log(change)
    if "text" in s.conditions:
        results["meta"]["text_encoder"] = s.text_encoder
    if s.minutes_per_family is not None:
        results["notes"].append(
            "a wall-clock budget: the images each family saw, and every number measured on it, "
            "depend on how fast this host ran at the time, so a rerun gives other numbers "
            "(--images or --flops fix the work instead; docs/reproducibility.md)"
        )
    if ev.domain is None:
        results["notes"].append(
            f"{s.dataset} has no classes: domain FID, class accuracy and confidence are n/a"
        )
    runs: dict[FamilyName, api.Loaded] = {}
    if s.conditions:
        results["notes"].append(
            f"every family trained with the conditions {', '.join(s.conditions)} beside the "
            "class label; the headline samples and the studies ask for the class alone (the "
            "other conditions null), the adherence section for each condition alone"
        )
    runs_by_seed: dict[int, dict[FamilyName, api.Loaded]] = {}
    for name in s.families:
        records = []  # one per training seed (compare.seeds)
        for seed in seeds.training_seeds(s.seed, s.seeds):
            config = train_config(name, s, conditions=s.conditions, seed=seed)
            tag = seeds.run_name(name.value, seed, s)
            piece = f"family/{tag}"
            if pieces.get(piece) is None:
                pieces.start(piece)
                log(
                    f"[{tag}] training ({replace(s, lr_cooldown=config.lr_cooldown).budget_text})"
                    if name.value not in reuse
                    else f"[{tag}] reusing {reuse[name.value]}"
                )
                loaded, summary = train_or_reuse(
                    config, out / tag, reuse.get(name.value), device, log, stages.at, pieces.resume
                )
                stages.advance()
                log(f"[{tag}] sampling {s.fid_samples} images and measuring")
                record, grid = measure_family(loaded, summary, test, ev, s)
                save_grid(grid, out / f"{tag}_samples.png", nrow=8)
                pieces.put(piece, {**record, "grid": f"{tag}_samples.png"})
            else:
                log(f"[{tag}] trained and measured earlier ({PIECES_DIR}/{piece}.json)")
                stages.advance()
            record = pieces.get(piece)  # as a resumed run reads it back
            # loaded again, finished now or by an earlier run: the studies see the same run
            source = reuse.get(name.value, out / tag)
            runs_by_seed.setdefault(seed, {})[name] = api.load(source, device=device)
            records.append(record)
            taken = seeds.training_seeds(s.seed, len(records))
            results["families"][name.value] = seeds.family_record(records, taken)
            _write_results(out, results)
            q = record["quality"]
            log(
                f"[{tag}] FID {q['fid']:.1f} (n={q['fid_samples']}), domain FID "
                f"{_num(q['domain_fid'], '.2f')}, class acc {_num(q['cond_accuracy'], '.3f')}, "
                f"{_num(record['nll']['bits_per_dim'], '.3f')} bits/dim ({record['nll']['kind']})"
            )
            stages.advance()
        runs[name] = runs_by_seed[s.seed][name]  # the studies measure the first seed's
    train_run = partial(train_or_reuse, reuse=None, device=device, log=log, clear=pieces.resume)
    config_for = partial(train_config, s=s)
    run_studies(
        s,
        runs,
        ev,
        test,
        results,
        pieces,
        out=out,
        device=device,
        log=log,
        train=train_run,
        config_for=config_for,
        resolution=not s.claims.runs("C6"),  # else C6's sweep measures its points
    )
    stages.advance(len(s.studies))
    if s.conditions:
        log(f"study: adherence to {', '.join(s.conditions)}")
        results["adherence"] = pieces.run(
            "adherence",
            lambda: adherence_study(
                runs, test, s, out, cache_dir=cache_dir, log=log, domain=ev.domain, device=device
            ),
        )
        stages.advance()
    _write_results(out, results)
    ctx = ClaimContext(
        compare=s,
        claims=s.claims,
        runs=runs,
        evaluators=ev,
        train_data=train,
        test_data=test,
        out=out,
        cache_dir=cache_dir,
        device=device,
        train=train_run,
        config_for=config_for,
        runs_by_seed=runs_by_seed,
        log=log,
        text_reference=(
            cache(lambda: captioned_test(s, cache_dir, ev.domain, device, log).reference)
            if s.dataset in CAPTIONED_DATASETS
            else None
        ),
    )
    # claims decided by an earlier run that was interrupted: their experiments are not run again
    earlier = {k: v for k in s.claims.run if (v := pieces.get(f"claim/{k}")) is not None}
    stages.advance(sum(k in earlier for k in s.claims.run))
    finished: dict[str, Any] = {}

    def claim_done(result) -> None:  # results.json grows claim by claim: a crash loses one
        finished[result.claim.id] = result.to_dict()
        if result.claim.id in s.claims.run:  # not one decided beside it, unasked
            pieces.put(f"claim/{result.claim.id}", finished[result.claim.id])
        results["claims"] = list({**earlier, **finished}.values())
        _write_results(out, results)
        log(f"[{result.claim.id}] {result.verdict.value}: {result.why}")
        if result.claim.id in s.claims.run:
            stages.advance()

    results["claims"] = [  # every claim asked for as its piece reads back, the rest not_run
        (s.claims.runs(r.claim.id) and pieces.get(f"claim/{r.claim.id}")) or r.to_dict()
        for r in run_claims(ctx, claim_done, decided=earlier)
    ]
    c6 = next(c for c in results["claims"] if c["id"] == "C6")
    if "resolution" not in results["studies"] and c6["details"].get("points"):
        results["studies"]["resolution"] = c6["details"]["points"]  # the table and figure
    _write_results(out, results)
    render(out)
    stages.finish()
    return results


class _Stages:
    """``progress(done, total)`` over the stages of a comparison."""

    def __init__(self, total: int, progress: Callable[[float, float], None] | None) -> None:
        self.total, self.done, self.progress = total, 0, progress

    def at(self, fraction: float) -> None:
        """The current stage is ``fraction`` done."""
        if self.progress is not None:
            self.progress(self.done + min(fraction, 1.0), self.total)

    def advance(self, stages: int = 1) -> None:
        self.done = min(self.done + stages, self.total)
        self.at(0.0)

    def finish(self) -> None:
        self.advance(self.total)


def _num(value: float | None, spec: str) -> str:
    """``value`` formatted with ``spec``, or n/a when the metric does not apply."""
    return "n/a" if value is None else format(value, spec)


def _write_results(out: Path, results: dict[str, Any]) -> None:
    atomic_write_text(out / RESULTS_FILE, json.dumps(results, indent=1, default=float))
