"""PySpark's Python daemon, with the trial worker's imports done before it forks workers.

Spark starts one daemon per executor (``python -m pyspark.daemon``) and forks a Python worker
from it for each task; a fresh worker then imports hpo_widget and Optuna when it unpickles the
trial worker, 1-2 s on a small machine (16 s measured for the first trial of a cold run on 2 busy
cores, 0.3 s once the workers are warm), and Spark stops idle workers after a minute.  A daemon
that has imported them already forks workers that have them too, for the whole session.  The
spark backend selects this module (``spark.python.daemon.module``) only where executors run this
very interpreter; a user's own setting wins.
"""

from __future__ import annotations

from pyspark import daemon

import hpo_widget._worker  # noqa: F401  (imported once, inherited by every forked worker)

if __name__ == "__main__":
    daemon.manager()
