"""Seconds from Run to the first finished trial (the panel's first point), local Spark vs threads.

Run: ``python benchmarks/first_point.py`` (prints a markdown table; about a minute).

What is measured: ``StudyRunner.start()`` to the first ``TrialFinished`` event the runner emits
(what the panel's live figure draws its first point from), for a 0.1 s objective on 2 slots:

* **threading**: Optuna-style threads in the kernel (the floor);
* **spark local[2], cold**: a fresh process, so the run builds the Spark session (JVM start,
  then the executors' Python workers);
* **spark local[2], warm**: a second run in the same process (the session and its Python workers
  are up, as for a panel's second Run);
* **spark local[2], session started in the background first**: the backend's session is built
  (and its Python workers warmed) before Run, as when a panel's backend is chosen, then Run
  after the warm-up finished.

Each cold case runs in its own subprocess so nothing is shared.  Numbers depend on the machine;
the ratios to threading are what to compare.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

CASE = r"""
import json, sys, threading, time
import optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
from hpo_widget import StudyRunner, TrialFinished

def objective(trial):
    x = trial.suggest_float("x", -1, 1)
    time.sleep(0.1)
    return x * x

case = sys.argv[1]
backend = "threading" if case == "threading" else "spark"
options = {} if backend == "threading" else {"master": "local[2]"}
out = {}

def first_point(runner, total):
    seen = threading.Event()
    runner.subscribe(lambda e: seen.set() if isinstance(e, TrialFinished) else None)
    t0 = time.perf_counter()
    runner.start(n_trials=total)  # a total: the second run adds 6 more
    if not seen.wait(300):
        raise SystemExit("no trial finished within 300 s")
    took = time.perf_counter() - t0
    runner.wait(timeout=300)
    return took

runner = StudyRunner(objective, storage="memory", backend=backend, backend_options=options,
                     n_workers=2, seed=0)
if case == "background":
    runner.backend.session() if hasattr(runner.backend, "session") else None
    time.sleep(20)  # the warm-up job (one task per slot) has long finished
out["first"] = first_point(runner, 6)
if case == "cold":
    out["warm"] = first_point(runner, 12)
runner.close()
print("RESULT " + json.dumps(out))
"""


def run(case: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", CASE, case], capture_output=True, text=True, timeout=600
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line[len("RESULT ") :]))
    raise RuntimeError(f"{case} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")


def main() -> None:
    started = time.time()
    threads = run("threading")["first"]
    cold = run("cold")
    background = run("background")["first"]
    rows = [
        ("threading (2 threads)", threads),
        ("spark local[2], cold (session built by Run)", cold["first"]),
        ("spark local[2], warm (second Run, same session)", cold["warm"]),
        ("spark local[2], session built in the background before Run", background),
    ]
    print("| Run to the first finished trial | seconds | x threading |")
    print("|---|---:|---:|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} | {seconds / threads:.1f} |")
    print(f"\n(0.1 s objective, 2 slots; {time.time() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
