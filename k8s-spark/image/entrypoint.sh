#!/usr/bin/env bash
# hpo_widget image entrypoint (runs under tini: ENTRYPOINT ["tini", "--", this script]).
#
#   entrypoint.sh executor   -> the Spark 4.3 Kubernetes executor (what Spark's executor pods run:
#                               the container gets args ["executor"] and the SPARK_* env below)
#   entrypoint.sh CMD ARGS.. -> exec CMD ARGS.. unchanged (jupyter lab, hpo-widget worker, bash, ...)
#
# The pip pyspark wheel ships Spark's jars but not Spark's own entrypoint.sh, so this script
# implements the executor contract itself. It relies on nothing but the environment (no root, no
# /opt paths): the test control plane runs this very file as a local process with a pod's env.
#
# Env read in executor mode (set by Spark's driver on every executor pod):
#   SPARK_DRIVER_URL SPARK_EXECUTOR_ID SPARK_EXECUTOR_CORES SPARK_EXECUTOR_MEMORY
#   SPARK_APPLICATION_ID SPARK_RESOURCE_PROFILE_ID SPARK_CONF_DIR SPARK_EXECUTOR_POD_IP
#   SPARK_EXECUTOR_POD_NAME SPARK_JAVA_OPT_0..N SPARK_LOCAL_DIRS (read by the JVM itself)
# Optional: SPARK_HOME (default: the installed pyspark package directory, found with
#   ${PYSPARK_PYTHON:-python3}), JAVA (a java binary), JAVA_HOME (then $JAVA_HOME/bin/java).
set -euo pipefail

die() {
  echo "entrypoint.sh: $*" >&2
  exit 1
}

if [[ "${1:-}" != "executor" ]]; then
  if (($# == 0)); then
    die "no command given (use 'executor' or a command such as 'jupyter lab')"
  fi
  exec "$@"
fi

for var in SPARK_DRIVER_URL SPARK_EXECUTOR_ID SPARK_EXECUTOR_CORES SPARK_EXECUTOR_MEMORY \
  SPARK_APPLICATION_ID SPARK_RESOURCE_PROFILE_ID SPARK_CONF_DIR SPARK_EXECUTOR_POD_IP \
  SPARK_EXECUTOR_POD_NAME; do
  [[ -n "${!var:-}" ]] || die "executor mode needs \$$var (Spark's driver sets it on executor pods)"
done

if [[ -z "${SPARK_HOME:-}" ]]; then
  py="${PYSPARK_PYTHON:-python3}"
  SPARK_HOME=$("$py" -c 'import pyspark,os;print(os.path.dirname(pyspark.__file__))') ||
    die "SPARK_HOME is unset and '$py' cannot import pyspark"
  export SPARK_HOME
fi
[[ -d "$SPARK_HOME/jars" ]] || die "no jars directory under SPARK_HOME=$SPARK_HOME"

if [[ -n "${JAVA:-}" ]]; then
  java_bin="$JAVA"
elif [[ -n "${JAVA_HOME:-}" ]]; then
  java_bin="$JAVA_HOME/bin/java"
else
  java_bin=java
fi

# SPARK_JAVA_OPT_0..N in numeric order (as Spark's own entrypoint.sh does with
# `env | grep SPARK_JAVA_OPT_ | sort -t_ -k4 -n`), read straight from the environment so values
# keep their spaces and need no temporary file.
java_opts=()
while IFS= read -r name; do
  java_opts+=("${!name}")
done < <(compgen -e | sed -n 's/^SPARK_JAVA_OPT_\([0-9][0-9]*\)$/\1 &/p' | sort -n -k1,1 | cut -d' ' -f2)

exec "$java_bin" \
  "${java_opts[@]}" \
  -Xms"$SPARK_EXECUTOR_MEMORY" \
  -Xmx"$SPARK_EXECUTOR_MEMORY" \
  -cp "$SPARK_CONF_DIR:$SPARK_HOME/jars/*" \
  org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
  --driver-url "$SPARK_DRIVER_URL" \
  --executor-id "$SPARK_EXECUTOR_ID" \
  --cores "$SPARK_EXECUTOR_CORES" \
  --app-id "$SPARK_APPLICATION_ID" \
  --hostname "$SPARK_EXECUTOR_POD_IP" \
  --resourceProfileId "$SPARK_RESOURCE_PROFILE_ID" \
  --podName "$SPARK_EXECUTOR_POD_NAME"
