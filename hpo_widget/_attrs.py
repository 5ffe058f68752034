"""Keys this package writes into Optuna trial/study system attributes.

They live in storage next to the trial, so any process that can read the study (the driver, a
report run days later, optuna-dashboard) sees the same facts without asking the runner.
"""

from __future__ import annotations

PREFIX = "hpo_widget:"

#: Study-level: the budget and stop flag of the current run (plain data, see runner).
RUN = PREFIX + "run"
#: Trial-level: "host:pid:slot" of the worker that ran the trial.
WORKER = PREFIX + "worker"
#: Trial-level: full traceback text of an objective that raised.
TRACEBACK = PREFIX + "traceback"
#: Trial-level: one line saying why a trial failed (exception repr, NaN result, lost worker...).
FAIL_REASON = PREFIX + "fail_reason"
#: Trial-level: True when the trial failed for reasons outside the objective (worker died, user
#: stopped the run). Such trials do not count towards the budget and are re-run.
LOST = PREFIX + "lost"
#: Trial-level: number of the trial this one re-runs with the same parameters.
RETRY_OF = PREFIX + "retry_of"
#: Trial-level: last time (POSIX seconds) the worker running this trial was seen alive.
HEARTBEAT = PREFIX + "heartbeat"
#: Study-level: the WAITING trials a run's driver offers its workers, ``{"run": id, "ids": [...]}``
#: (retries first), so a worker finds a ticket without reading every trial of the study.
POOL = PREFIX + "pool"
#: Trial-level: marks a WAITING trial created as a budget ticket (sampled normally when claimed).
TICKET = PREFIX + "ticket"
