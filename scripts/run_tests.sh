#!/usr/bin/env bash
# Run the whole test suite in the project's virtualenv with ROS 2 isolated to this machine.
# Extra arguments go to pytest (e.g. -n 2 for two workers, -k node).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
cd "$ROOT"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
# Camera-sized messages between processes: test/conftest.py sets the package's Fast DDS profile
# (unipose_ros/ros/dds.py) for the test processes and the node processes they start.
export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export PYTHONUNBUFFERED=1
echo "ruff check"
"$VENV/bin/ruff" check unipose_ros training test scripts || exit 1
"$VENV/bin/python" -m pytest "$@"
rc=$?
# Fast DDS leaves shared-memory segments behind when a process crashes.
find /dev/shm -maxdepth 1 -name 'fastdds_*' -user "$(id -u)" -mmin +1 -delete 2>/dev/null || true
[ $rc -eq 5 ] && { echo "no tests were collected"; exit 1; }
exit $rc
