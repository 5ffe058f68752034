"""Captured-data benchmark: what a large object held by the objective costs the Spark driver.

Run: ``.venv/bin/python benchmarks/captured_data.py [--mb 200] [--trials 16]``.  Each case runs
in a fresh Python process (so peak RSS is its own) with a local Spark session already up, and
measures the driver's peak RSS (the Python process, and the driver JVM sampled every 50 ms) and
the seconds from ``start()`` to the first finished trial, for an objective capturing 0 MB or
``--mb`` MB at 2 and 8 workers:

* **broadcast** — the current design: the shared worker task (objective and its data) is pickled
  once and sent as one Spark broadcast (hpo_widget/backends/_spark_broadcast.py);
* **per task** — the previous design, kept reachable by raising the broadcast threshold: every
  worker's Spark job carries its own pickled copy;
* **Optuna threads** — ``study.optimize(n_jobs=N)`` in process, the no-copy floor;
* **loky mapped / loky per task** — the loky backend, which writes a large task to one file
  that its worker processes map (hpo_widget/backends/_shared_bundle.py), and the same backend
  with that turned off (every worker process receives and unpickles its own copy).

Since the shared bundle, Spark's Python workers map the broadcast file instead of unpickling
a copy each; "broadcast" measures that, and the results file of 2026-12-03 holds the numbers from
before (broadcast, each Python worker unpickling its copy).

The issue's targets: peak RSS at 8 workers <= 1.25x that at 2, and the first trial within 1 s
of the 0 MB case.  It prints a markdown table and writes it to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
DESIGNS = ("broadcast", "per-task", "loky-mapped", "loky-per-task", "optuna-threads")


def _case(design: str, mb: int, workers: int, trials: int) -> dict[str, float]:
    """One measurement, in this (fresh) process."""
    import numpy as np
    import optuna
    import psutil

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.spark_objectives import LooksUpCapturedArray

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    objective = LooksUpCapturedArray(max(1, mb * 2**20 // 8))
    assert objective.data.nbytes >= mb * 2**20 and isinstance(objective.data, np.ndarray)
    if design == "optuna-threads":
        study = optuna.create_study()
        t0 = time.perf_counter()
        first: list[float] = []
        study.optimize(
            objective,
            n_trials=trials,
            n_jobs=workers,
            callbacks=[lambda s, t: first or first.append(time.perf_counter() - t0)],
        )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return {"python_mib": peak, "jvm_mib": 0.0, "first_s": first[0]}

    from hpo_widget import StudyRunner
    from hpo_widget.backends import _spark_broadcast, local
    from hpo_widget.backends.spark import SparkBackend

    if design == "per-task":
        _spark_broadcast.BROADCAST_MIN_BYTES = 1 << 62
    if design == "loky-per-task":
        local.SHARED_FILE_MIN_BYTES = 1 << 62
    backend: Any
    if design.startswith("loky"):
        backend = local.LokyBackend()
        jvm = None
    else:
        backend = SparkBackend(master=f"local[{workers}]")
        spark = backend.session()  # the session is up before the clock starts, as in a notebook
        jvm = psutil.Process(spark.sparkContext._gateway.proc.pid)
    jvm_peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while jvm is not None and not done.is_set():
            try:
                jvm_peak[0] = max(jvm_peak[0], jvm.memory_info().rss / 2**20)
            except psutil.Error:
                return
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    storage = str(Path(tempfile.mkdtemp()) / "bench.journal")
    runner = StudyRunner(objective, storage=storage, backend=backend, n_workers=workers, seed=0)
    t0 = time.perf_counter()
    handle = runner.start(n_trials=trials)
    first_s = float("nan")
    study = runner.study
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            first_s = time.perf_counter() - t0
            break
        time.sleep(0.02)
    handle.wait(timeout=600)
    done.set()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    backend.close()
    return {"python_mib": peak, "jvm_mib": jvm_peak[0], "first_s": first_s}


def _run_case(design: str, mb: int, workers: int, trials: int) -> dict[str, float]:
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable)
    out = subprocess.run(
        [sys.executable, __file__, "--case", design, str(mb), str(workers), str(trials)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"{design} {mb} MB x{workers} failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(lines[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--case", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        design, mb, workers, trials = args.case
        print(json.dumps(_case(design, int(mb), int(workers), int(trials))))
        return

    rows = []
    results: dict[tuple[str, int, int], dict[str, float]] = {}
    for design in DESIGNS:
        for mb in (0, args.mb):
            for workers in (2, 8):
                r = _run_case(design, mb, workers, args.trials)
                results[(design, mb, workers)] = r
                print(f"  {design:15} {mb:4} MB x{workers}: {r}", file=sys.stderr)
    head = (
        "| design | captured | workers | driver Python peak MiB | driver JVM peak MiB | "
        "first trial s |\n|---|---|---|---|---|---|"
    )
    rows.append(head)
    for (design, mb, workers), r in results.items():
        rows.append(
            f"| {design} | {mb} MB | {workers} | {r['python_mib']:.0f} | {r['jvm_mib']:.0f} | "
            f"{r['first_s']:.2f} |"
        )
    ratios = [
        "",
        "| design | RSS at 8 / at 2 workers (Python + JVM) | first trial: big - 0 MB, 8 workers |",
        "|---|---|---|",
    ]
    for design in DESIGNS:
        big2, big8 = results[(design, args.mb, 2)], results[(design, args.mb, 8)]
        zero8 = results[(design, 0, 8)]
        total = lambda r: r["python_mib"] + r["jvm_mib"]  # noqa: E731
        ratios.append(
            f"| {design} | {total(big8) / total(big2):.2f} | "
            f"{big8['first_s'] - zero8['first_s']:+.2f} s |"
        )
    table = "\n".join(
        [
            f"Captured data, {args.trials} no-op trials, local[N] Spark session already up; "
            f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
            "",
            *rows,
            *ratios,
        ]
    )
    print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "captured_data.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
