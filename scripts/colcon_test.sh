#!/usr/bin/env bash
# `colcon build` and `colcon test` of this package, as in a robot's ROS 2 workspace, here with the
# ROS 2 wheels of a virtualenv instead of a system install:
#
#   bash scripts/colcon_test.sh [VENV]        # default: <repo>/.venv (make colcon-test)
#
# The working tree (tracked and untracked files that git does not ignore) is copied into a
# throwaway workspace WS/src/unipose_ros, built with ament_cmake (messages, Python sources,
# executables, launch and config files into WS/install), and tested by ctest through
# ament_cmake_pytest against the installed package (install/setup.bash sourced). Tests that read
# ../shared skip there, as they do in a robot's workspace. Extra pytest options: PYTEST_ADDOPTS
# (default "-n 2"). Exit status: colcon test-result's.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=$(cd "${1:-${VENV:-$ROOT/.venv}}" && pwd)
PY="$VENV/bin/python"
log() { printf '\033[1m[colcon_test]\033[0m %s\n' "$*"; }

"$PY" -c "import colcon_core" 2>/dev/null \
  || { echo "colcon_test: colcon is not in $VENV (pip install colcon-common-extensions)" >&2; exit 1; }
WS=$(mktemp -d "${TMPDIR:-/tmp}/unipose_colcon_ws.XXXXXX")
trap 'rm -rf "$WS"' EXIT
mkdir -p "$WS/src/unipose_ros"
# (files deleted in the working tree but still tracked are skipped)
(cd "$ROOT" && git ls-files -co --exclude-standard -z | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) \
  | tar -xf - -C "$WS/src/unipose_ros"

export PATH="$VENV/bin:$PATH"
export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST PYTHONUNBUFFERED=1
cd "$WS"
log "colcon build in $WS"
"$PY" -m colcon build --packages-select unipose_ros --event-handlers console_cohesion- \
  --cmake-args -DCMAKE_PROJECT_INCLUDE="$WS/src/unipose_ros/cmake/ros_wheels_fix.cmake" \
  -DPython3_EXECUTABLE="$PY" -DBUILD_TESTING=ON
# shellcheck disable=SC1091
set +u; source install/setup.bash; set -u
"$PY" - <<'EOF'
import unipose_ros, unipose_ros.msg, unipose_training
from ament_index_python.packages import get_package_share_directory
where = unipose_ros.__file__
assert "/install/unipose_ros/" in where, f"unipose_ros comes from {where}, not the install space"
share = get_package_share_directory("unipose_ros")
assert share.endswith("install/unipose_ros/share/unipose_ros"), share
print(f"[colcon_test] installed package imports from {where}; share {share}")
EOF
log "colcon test"
export PYTEST_ADDOPTS="${PYTEST_ADDOPTS:--n 2}"
"$PY" -m colcon test --packages-select unipose_ros --event-handlers console_direct+ --return-code-on-test-failure \
  || true
"$PY" -m colcon test-result --verbose
