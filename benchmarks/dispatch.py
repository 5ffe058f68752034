"""Dispatch benchmark: how fast and how efficiently trials get to workers, side by side with peers.

Run: ``.venv/bin/python benchmarks/dispatch.py [--quick]``.  In one run on one machine it measures

* trials/s with a no-op objective, and
* slot efficiency (ideal / actual wall time) with 0.2 s sleep trials on 2 slots,

for Optuna's own threads with in-memory storage (the in-process ceiling), each hpo_widget backend,
and hyperopt's ``SparkTrials(parallelism=2)`` on an equivalent objective; then a scaling run on a
standalone Spark cluster (master + 2 workers on 127.0.0.1) with 1 s sleep trials at 1..16 slots.
It prints markdown tables and writes them plus HTML charts to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import optuna
import psutil

from hpo_widget import StudyRunner, _attrs
from hpo_widget.space import SearchSpace

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
optuna.logging.set_verbosity(optuna.logging.ERROR)

RESULTS = Path(__file__).parent / "results"
SLEEP = 0.2


def noop(trial: optuna.Trial) -> float:
    return trial.suggest_float("x", 0, 1)


def sleepy(trial: optuna.Trial) -> float:
    time.sleep(SLEEP)
    return trial.suggest_float("x", 0, 1)


def sleep_1s(trial: optuna.Trial) -> float:
    time.sleep(1.0)
    return trial.suggest_float("x", 0, 1)


#: The same parameter as a space known up front (what the panel's form gives): the driver
#: samples the tickets, and workers only claim, run and report.
SPACE = SearchSpace.from_dict({"x": {"type": "float", "low": 0, "high": 1}})


def noop_params(params: dict[str, float]) -> float:
    return params["x"]


def sleepy_params(params: dict[str, float]) -> float:
    time.sleep(SLEEP)
    return params["x"]


def sleep_1s_params(params: dict[str, float]) -> float:
    time.sleep(1.0)
    return params["x"]


@dataclass
class Row:
    name: str
    noop_rate: float | None = None
    efficiency: float | None = None
    note: str = ""


def _optuna_threads(n: int, objective, slots: int = 2) -> float:  # type: ignore[no-untyped-def]
    study = optuna.create_study()
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=n, n_jobs=slots)
    return time.perf_counter() - t0


def _runner(objective, n: int, **kwargs) -> tuple[float, optuna.Study]:  # type: ignore[no-untyped-def]
    runner = StudyRunner(objective, **kwargs)
    t0 = time.perf_counter()
    study = runner.start(n_trials=n).wait()
    wall = time.perf_counter() - t0
    finished = len([t for t in study.trials if t.state.is_finished()])
    assert finished >= n, f"{kwargs}: {finished} finished of {n}"
    return wall, study


def _hyperopt(spark, n: int, sleep: float) -> float:  # type: ignore[no-untyped-def]
    from hyperopt import SparkTrials, fmin, hp, tpe

    def fn(x: float) -> float:
        if sleep:
            time.sleep(sleep)
        return x

    trials = SparkTrials(parallelism=2, spark_session=spark)
    t0 = time.perf_counter()
    fmin(
        fn,
        hp.uniform("x", 0, 1),
        algo=tpe.suggest,
        max_evals=n,
        trials=trials,
        show_progressbar=False,
    )
    return time.perf_counter() - t0


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            total += psutil.Process(pid).memory_info().rss
    return total / 2**20


def dispatch_table(n_noop: int, n_sleep: int, n_hyperopt: int, tmp: Path) -> list[Row]:
    rows: list[Row] = []
    slots = 2
    ideal = n_sleep * SLEEP / slots

    wall = _optuna_threads(n_noop, noop)
    eff = ideal / _optuna_threads(n_sleep, sleepy)
    rows.append(
        Row(
            "Optuna study.optimize(n_jobs=2), in-memory",
            n_noop / wall,
            eff,
            "in-process ceiling; not joblib, so it cannot use Spark",
        )
    )

    configs: list[tuple[str, dict]] = [
        ("hpo_widget threading, in-memory", {"backend": "threading", "storage": "memory"}),
        ("hpo_widget threading, journal file", {"backend": "threading", "storage": "journal"}),
        ("hpo_widget loky, journal file", {"backend": "loky", "storage": "journal"}),
        ("hpo_widget spark local[2], journal file", {"backend": "spark", "storage": "journal"}),
        ("hpo_widget spark local[2], gRPC proxy", {"backend": "spark", "storage": "memory"}),
        (
            "hpo_widget spark local[2], gRPC proxy, known space",
            {"backend": "spark", "storage": "memory", "space": True},
        ),
        ("hpo_widget dask LocalCluster, journal", {"backend": "dask", "storage": "journal"}),
    ]
    for i, (name, cfg) in enumerate(configs):
        storage = str(tmp / f"b{i}.journal") if cfg["storage"] == "journal" else "memory"
        opts = {"master": "local[2]"} if cfg["backend"] == "spark" else {}
        common = dict(
            backend=cfg["backend"], storage=storage, n_workers=slots, backend_options=opts
        )
        fast, slow = (noop_params, sleepy_params) if cfg.get("space") else (noop, sleepy)
        if cfg.get("space"):
            common["space"] = SPACE
        try:
            _runner(fast, 4, **common)  # warm-up: session start, worker spawn
            wall, _ = _runner(fast, n_noop, **common)
            swall, _ = _runner(slow, n_sleep, **common)
            rows.append(Row(name, n_noop / wall, ideal / swall))
        except Exception as exc:  # a missing optional package should not hide the other rows
            rows.append(Row(name, note=f"failed: {type(exc).__name__}: {exc}"[:120]))

    try:
        from pyspark.sql import SparkSession

        spark = SparkSession.builder.master("local[2]").getOrCreate()
        wall = _hyperopt(spark, n_hyperopt, 0.0)
        swall = _hyperopt(spark, n_hyperopt, SLEEP)
        rows.append(
            Row(
                "hyperopt SparkTrials(parallelism=2)",
                n_hyperopt / wall,
                (n_hyperopt * SLEEP / slots) / swall,
                f"{n_hyperopt} trials",
            )
        )
    except Exception as exc:
        rows.append(Row("hyperopt SparkTrials(parallelism=2)", note=f"failed: {exc}"[:120]))
    return rows


def scaling_table(slot_counts: list[int], trials_per_slot: int, tmp: Path) -> list[dict]:
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    from hpo_widget.cluster import LocalSparkCluster

    # The local[2] session of the dispatch table was started in a runner thread, so it is not
    # this thread's "active session"; stop it through the context, or getOrCreate() below would
    # hand it back instead of connecting to the cluster.
    if SparkContext._active_spark_context is not None:
        SparkSession.builder.getOrCreate().stop()
    out = []
    with LocalSparkCluster(
        n_workers=2, cores_per_worker=max(slot_counts) // 2, memory="2g"
    ) as cluster:
        spark = (
            SparkSession.builder.master(cluster.master_url)
            .config("spark.executor.memory", "1g")
            .config("spark.ui.enabled", "false")
            .getOrCreate()
        )
        assert spark.sparkContext.master == cluster.master_url, spark.sparkContext.master
        for slots in slot_counts:
            n = trials_per_slot * slots
            # Warm-up with one trial per worker, so every slot has started its Python worker.
            _runner(noop, slots, backend="spark", storage="memory", n_workers=slots)
            t0 = time.time()
            wall, study = _runner(sleep_1s, n, backend="spark", storage="memory", n_workers=slots)
            # The same with the space known up front (the panel's form): the driver samples.
            space_wall, _ = _runner(
                sleep_1s_params, n, space=SPACE, backend="spark", storage="memory", n_workers=slots
            )
            firsts: dict[str, float] = {}
            for t in study.trials:
                if t.datetime_start is not None:
                    w = str(t.system_attrs.get(_attrs.WORKER, "?"))
                    firsts[w] = min(firsts.get(w, 1e18), t.datetime_start.timestamp() - t0)
            per_worker = collections.Counter(
                t.system_attrs.get(_attrs.WORKER, "?")
                for t in study.trials
                if t.state.is_finished()
            )
            executors = [
                p.pid
                for p in psutil.process_iter(["cmdline"])
                if "CoarseGrainedExecutorBackend" in " ".join(p.info["cmdline"] or [])
            ]
            py_workers = [
                p.pid
                for p in psutil.process_iter(["cmdline"])
                if "pyspark.daemon" in " ".join(p.info["cmdline"] or [])
                or "pyspark.worker" in " ".join(p.info["cmdline"] or [])
            ]
            out.append(
                {
                    "slots": slots,
                    "trials": n,
                    "wall": wall,
                    "efficiency": n * 1.0 / slots / wall,
                    "space_efficiency": n * 1.0 / slots / space_wall,
                    "throughput": n / wall,
                    "per_worker": sorted(per_worker.values()),
                    "first_start": min(firsts.values()),
                    "last_first_start": max(firsts.values()),
                    "driver_rss": rss_mb([os.getpid()]),
                    "executor_jvm_rss": rss_mb(executors),
                    "python_workers_rss": rss_mb(py_workers),
                }
            )
        spark.stop()
    return out


def fmt(x: float | None, pattern: str) -> str:
    return "—" if x is None else pattern.format(x)


def machine() -> str:
    return (
        f"{platform.node()}: {os.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}, "
        f"optuna {optuna.__version__}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer trials (smoke run)")
    parser.add_argument("--no-cluster", action="store_true", help="skip the standalone scaling run")
    args = parser.parse_args()
    n_noop, n_sleep, n_hyp = (60, 20, 6) if args.quick else (200, 200, 20)
    RESULTS.mkdir(exist_ok=True)
    lines = [
        f"# Dispatch benchmark\n\nMachine: {machine()}; {time.strftime('%Y-%m-%d')}.\n",
        f"No-op objective: {n_noop} trials; efficiency: {n_sleep} trials of {SLEEP} s on 2 "
        "slots (ideal wall = trials x 0.2 s / 2).\n",
        "| dispatch | no-op trials/s | efficiency, 0.2 s trials | note |",
        "|---|---:|---:|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        rows = dispatch_table(n_noop, n_sleep, n_hyp, Path(tmp))
        for r in rows:
            lines.append(
                f"| {r.name} | {fmt(r.noop_rate, '{:.0f}')} | "
                f"{fmt(r.efficiency, '{:.0%}')} | {r.note} |"
            )
        print("\n".join(lines), flush=True)
        scaling = []
        if not args.no_cluster:
            counts = [1, 2, 4] if args.quick else [1, 2, 4, 8, 16]
            scaling = scaling_table(counts, 2 if args.quick else 20, Path(tmp))
            sl = [
                "",
                "## Scaling on a standalone cluster (master + 2 workers, 127.0.0.1), 1 s trials\n",
                "Efficiency: ideal wall (trials x 1 s / slots) / wall, from `start()` to `wait()` "
                "returning; define-by-run (workers sample with TPE) and with the space known up "
                "front (the driver samples, as with the panel's form).\n",
                "| slots | trials | wall s | efficiency | efficiency, known space | trials/s | "
                "trials per worker | first trial started after s (first / last worker) | "
                "driver RSS MiB | executor JVMs MiB | Python workers MiB |",
                "|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|",
            ]
            for s in scaling:
                sl.append(
                    f"| {s['slots']} | {s['trials']} | {s['wall']:.1f} | "
                    f"{s['efficiency']:.0%} | {s['space_efficiency']:.0%} | "
                    f"{s['throughput']:.1f} | {s['per_worker']} | "
                    f"{s['first_start']:.2f} / {s['last_first_start']:.2f} | "
                    f"{s['driver_rss']:.0f} | {s['executor_jvm_rss']:.0f} | "
                    f"{s['python_workers_rss']:.0f} |"
                )
            print("\n".join(sl))
            lines += sl
    (RESULTS / "dispatch.md").write_text("\n".join(lines) + "\n")
    _charts(rows, scaling)
    print(f"\nwrote {RESULTS / 'dispatch.md'} and charts in {RESULTS}")
    return 0


def _charts(rows: list[Row], scaling: list[dict]) -> None:
    """Charts load plotly.js from its CDN so the committed files stay a few KB."""
    from plotly.subplots import make_subplots

    names = [r.name for r in rows if r.noop_rate]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("no-op trials/s", "efficiency, 0.2 s"))
    fig.add_bar(x=names, y=[r.noop_rate for r in rows if r.noop_rate], row=1, col=1)
    fig.add_bar(x=names, y=[r.efficiency for r in rows if r.noop_rate], row=1, col=2)
    fig.update_layout(showlegend=False, height=500, title="Dispatch, 2 slots")
    fig.write_html(RESULTS / "dispatch.html", include_plotlyjs="cdn")
    if scaling:
        fig = make_subplots(
            rows=1,
            cols=3,
            subplot_titles=("runtime vs workers", "trials per worker", "throughput (trials/s)"),
        )
        slots = [s["slots"] for s in scaling]
        fig.add_scatter(x=slots, y=[s["wall"] for s in scaling], row=1, col=1, name="wall s")
        for s in scaling:
            fig.add_box(y=s["per_worker"], name=str(s["slots"]), row=1, col=2)
        fig.add_scatter(
            x=slots, y=[s["throughput"] for s in scaling], row=1, col=3, name="trials/s"
        )
        fig.update_layout(showlegend=False, height=450, title="Standalone cluster, 1 s trials")
        fig.write_html(RESULTS / "scaling.html", include_plotlyjs="cdn")


if __name__ == "__main__":
    sys.exit(main())
