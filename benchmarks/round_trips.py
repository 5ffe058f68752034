"""The remote path's cost per trial: storage round trips, rate against Optuna, and flatness to 10k.

Run: ``.venv/bin/python benchmarks/round_trips.py [--trials 10000]``.  One run on one machine,
no-op objective (``suggest_float("x")``), 2 slots, Spark ``local[2]``.  Each objective comes
two ways: define-by-run (``trial.suggest_float``: the workers sample) and as a params function
over a known :class:`~hpo_widget.SearchSpace` (the driver samples the tickets; see
``hpo_widget/_driver_sampling.py``):

1. **Round trips per trial** through the gRPC storage proxy (the path every real cluster takes),
   by storage method, counted by the proxy server itself, for the random and TPE samplers.
2. **Rate against Optuna**: trials/s of ``study.optimize(n_jobs=2)`` in memory (the in-process
   ceiling) and of hpo_widget on Spark through the proxy and through a journal file, same
   objective and sampler, 300 trials.
   hyperopt's ``SparkTrials(parallelism=2)`` on the same session and objective is the peer
   (``--hyperopt-trials``, fewer: it runs about one trial per second);
3. **Flat in the number of trials**: per-trial rate in windows of 200 finished trials (first,
   around 1,000, last) over ``--trials`` trials with the random sampler, and last / first.

Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna

from hpo_widget import SearchSpace, StudyRunner

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
optuna.logging.set_verbosity(optuna.logging.ERROR)

WINDOW = 200


def noop(trial: optuna.Trial) -> float:
    return trial.suggest_float("x", 0, 1)


def noop_params(params: dict[str, float]) -> float:
    return params["x"]


#: The same one parameter as a space known up front: the driver samples the tickets.
SPACE = SearchSpace.from_dict({"x": {"type": "float", "low": 0, "high": 1}})
#: How the objective gets its parameters: define-by-run (workers sample) or a known space.
OBJECTIVES: dict[str, tuple[Any, SearchSpace | None]] = {
    "define-by-run": (noop, None),
    "space": (noop_params, SPACE),
}


def _sampler(name: str, seed: int = 0) -> optuna.samplers.BaseSampler:
    return (
        optuna.samplers.RandomSampler(seed=seed)
        if name == "random"
        else optuna.samplers.TPESampler(seed=seed)
    )


def run_hpo(
    n: int, sampler: str, storage: str, objective: str = "define-by-run"
) -> tuple[float, optuna.Study, Any]:
    function, space = OBJECTIVES[objective]
    runner = StudyRunner(
        function,
        space=space,
        backend="spark",
        backend_options={"master": "local[2]"},
        storage=storage,
        n_workers=2,
        sampler=sampler,
        seed=0,
    )
    t0 = time.perf_counter()
    study = runner.start(n_trials=n).wait()
    wall = time.perf_counter() - t0
    run = runner._run  # the finished run still holds its proxy (closed), with its counts
    proxy = run.proxy if run is not None else None
    return wall, study, proxy


def run_optuna(n: int, sampler: str) -> tuple[float, optuna.Study]:
    study = optuna.create_study(sampler=_sampler(sampler))
    t0 = time.perf_counter()
    study.optimize(noop, n_trials=n, n_jobs=2)
    return time.perf_counter() - t0, study


def run_hyperopt(n: int, sampler: str) -> float:
    """Seconds for ``n`` trials of hyperopt's SparkTrials on the benchmark's Spark session."""
    from hyperopt import SparkTrials, fmin, hp, rand, tpe
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
    trials = SparkTrials(parallelism=2, spark_session=spark)
    t0 = time.perf_counter()
    fmin(
        lambda x: x,
        hp.uniform("x", 0, 1),
        algo={"random": rand.suggest, "tpe": tpe.suggest}[sampler],
        max_evals=n,
        trials=trials,
        show_progressbar=False,
    )
    return time.perf_counter() - t0


def steady_rate(study: optuna.Study) -> float:
    """Trials/s between the first and the last tenth of the finished trials: the rate while
    the workers run, without the launch (a Spark job, the first claims) and the run's end."""
    done = sorted(
        t.datetime_complete.timestamp()
        for t in study.get_trials(deepcopy=False)
        if t.datetime_complete is not None
    )
    k = len(done) // 10
    return (len(done) - 2 * k) / (done[-k - 1] - done[k])


def windows(study: optuna.Study) -> dict[str, float]:
    """Trials/s over the first, a middle (around trial 1,000) and the last 200 finished."""
    done = sorted(
        t.datetime_complete.timestamp()
        for t in study.get_trials(deepcopy=False)
        if t.datetime_complete is not None and t.state.is_finished()
    )
    if len(done) < 3 * WINDOW:
        return {}

    def rate(start: int) -> float:
        return WINDOW / (done[start + WINDOW - 1] - done[start])

    # The first window starts after the first 20 (start-up: sessions, first imports).
    out = {"first": rate(20), "at 1k": rate(min(1000, len(done) - WINDOW) - WINDOW // 2)}
    out["last"] = rate(len(done) - WINDOW)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000, help="trials of the flatness run")
    parser.add_argument("--rate-trials", type=int, default=300, help="trials of the rate table")
    parser.add_argument(
        "--rate-reps", type=int, default=3, help="interleaved repetitions of the rate table"
    )
    parser.add_argument(
        "--hyperopt-trials", type=int, default=40, help="trials of hyperopt's rate (0: skip)"
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hpo-rt-"))
    print(
        f"Machine: {platform.node()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, optuna {optuna.__version__}; no-op objective, 2 slots\n"
    )
    run_hpo(8, "random", "memory")  # warm-up: the Spark session and its Python workers

    print("## Storage round trips per finished trial, Spark local[2] through the gRPC proxy\n")
    cols = [(o, smp) for o in OBJECTIVES for smp in ("random", "tpe")]
    per: dict[tuple[str, str], dict[str, float]] = {}
    for objective, sampler in cols:
        _, study, proxy = run_hpo(args.rate_trials, sampler, "memory", objective)
        n = sum(1 for t in study.get_trials(deepcopy=False) if t.state.is_finished())
        per[objective, sampler] = {m: c / n for m, c in proxy.calls.items()}
    methods = sorted({m for calls in per.values() for m in calls}, key=lambda m: -max(
        calls.get(m, 0) for calls in per.values()))  # fmt: skip
    print("| storage call | " + " | ".join(f"{smp}, {o}" for o, smp in cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for m in methods:
        print(f"| {m} | " + " | ".join(f"{per[c].get(m, 0):.2f}" for c in cols) + " |")
    print("| **all** | " + " | ".join(f"**{sum(per[c].values()):.2f}**" for c in cols) + " |")

    print(f"\n## Trials/s against Optuna's own threads, {args.rate_trials} trials\n")
    reps = args.rate_reps
    print(f"Start to end of `wait()` (the ratio the targets name); in brackets the steady rates "
          "(between the first and the last tenth of the finished trials) and their ratio. "
          f"Medians of {reps} interleaved repetitions (the VM's speed drifts between runs).\n")  # fmt: skip
    print("| sampler | parameters | Optuna n_jobs=2, memory | hpo_widget spark, proxy | ratio | "
          "hpo_widget spark, journal | ratio |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|")
    n = args.rate_trials
    for sampler in ("random", "tpe"):
        cells: dict[str, list[float]] = {}
        for rep in range(reps):
            o_wall, o_study = run_optuna(n, sampler)
            o, o_steady = n / o_wall, steady_rate(o_study)
            for objective in OBJECTIVES:
                p_wall, p_study, _ = run_hpo(n, sampler, "memory", objective)
                journal = str(tmp / f"rate-{sampler}-{objective}-{rep}.journal")
                j_wall, j_study, _ = run_hpo(n, sampler, journal, objective)
                p, j = n / p_wall, n / j_wall
                p_steady, j_steady = steady_rate(p_study), steady_rate(j_study)
                for key, value in {
                    "o": o, "os": o_steady, "p": p, "ps": p_steady, "j": j, "js": j_steady,
                    "pr": p / o, "prs": p_steady / o_steady, "jr": j / o, "jrs": j_steady / o_steady,
                }.items():  # fmt: skip
                    cells.setdefault(f"{objective}:{key}", []).append(value)
        for objective in OBJECTIVES:
            where = "the driver samples through the proxy" if objective == "space" else ""
            m = {k.split(":")[1]: statistics.median(v) for k, v in cells.items()
                 if k.startswith(objective + ":")}  # fmt: skip
            print(
                f"| {sampler} | {objective}{f' ({where})' if where else ''} "
                f"| {m['o']:.0f} ({m['os']:.0f}) | {m['p']:.0f} ({m['ps']:.0f}) "
                f"| {m['pr']:.2f} ({m['prs']:.2f}) "
                f"| {m['j']:.0f} ({m['js']:.0f}) | {m['jr']:.2f} ({m['jrs']:.2f}) |"
            )

    if args.hyperopt_trials:
        n = args.hyperopt_trials
        print(
            f"\n## The peer on the same session: hyperopt SparkTrials(parallelism=2), {n} trials\n"
        )
        print("| sampler | Optuna n_jobs=2, memory | hyperopt SparkTrials | ratio |")
        print("|---|---:|---:|---:|")
        for sampler in ("random", "tpe"):
            o = args.rate_trials / run_optuna(args.rate_trials, sampler)[0]
            h = n / run_hyperopt(n, sampler)
            print(f"| {sampler} | {o:.0f} | {h:.1f} | {h / o:.3f} |")

    print(f"\n## Per-trial rate as the study grows, {args.trials:,} trials, random sampler\n")
    print("| path | first 200 /s | around 1k /s | last 200 /s | last / first |")
    print("|---|---:|---:|---:|---:|")
    cases: list[tuple[str, Any]] = [
        ("Optuna n_jobs=2, memory", lambda: run_optuna(args.trials, "random")[1]),
        ("hpo_widget spark, proxy", lambda: run_hpo(args.trials, "random", "memory")[1]),
        (
            "hpo_widget spark, proxy, space (driver samples)",
            lambda: run_hpo(args.trials, "random", "memory", "space")[1],
        ),
        (
            "hpo_widget spark, journal",
            lambda: run_hpo(args.trials, "random", str(tmp / "flat.journal"))[1],
        ),
    ]
    for label, make in cases:
        w = windows(make())
        if not w:
            print(f"| {label} | - | - | - | - |")
            continue
        print(
            f"| {label} | {w['first']:.0f} | {w['at 1k']:.0f} | {w['last']:.0f} "
            f"| {w['last'] / w['first']:.2f} |"
        )


if __name__ == "__main__":
    main()
