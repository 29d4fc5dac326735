#!/usr/bin/env bash
# Generate the ROS 2 messages of unipose_ros (and tf2_msgs, hri_msgs where the environment has none) with
# rosidl, into a virtualenv that has the PyPI ROS 2 wheels:
#
#   bash scripts/build_msgs.sh [VENV]        # default: <repo>/.venv
#
# Quick (one Python start) when nothing changed since the last build. On a ROS 2 install use
# `colcon build` instead; this script is only for a virtualenv.
#
# Layout in the virtualenv (the sources stay an editable install of this checkout):
#   VENV/lib/libunipose_ros__rosidl_*.so          C/C++ type support (on the wheels' library path)
#   VENV/lib/unipose_ros_generated/unipose_ros/   generated Python: msg/ and the type support
#                                                 extension modules
#   VENV/lib/pythonX.Y/site-packages/unipose_ros.pkg
#        one line naming that folder: unipose_ros/__init__.py calls pkgutil.extend_path, which
#        reads *.pkg files, so `unipose_ros.msg` resolves there while every other module comes
#        from the sources. (The generated folder must not sit on sys.path as `unipose_ros/`:
#        its empty __init__.py would shadow the editable sources.)
#   VENV/lib/pythonX.Y/site-packages/unipose_ros_ament_prefix.pth
#        appends VENV to AMENT_PREFIX_PATH (after any sourced workspace) in every Python started
#        from the virtualenv, so that ament_index lookups (get_package_share_directory) work.
#   VENV/share/unipose_ros, VENV/share/ament_index/...   msg files, package.xml, index entries.
#   VENV/lib/unipose_ros/{pose_node,replay}       `ros2 run`-style executables.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=$(cd "${1:-${VENV:-$ROOT/.venv}}" && pwd)
PY="$VENV/bin/python"
log() { printf '\033[1m[build_msgs]\033[0m %s\n' "$*"; }

[ -x "$PY" ] || { echo "build_msgs: no Python at $PY; run scripts/install_venv.sh first" >&2; exit 1; }
command -v cmake >/dev/null || { echo "build_msgs: cmake not found; install cmake >= 3.19" >&2; exit 1; }
command -v cc >/dev/null || command -v gcc >/dev/null \
  || { echo "build_msgs: no C compiler; install build-essential" >&2; exit 1; }

SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
GEN_REL=lib/unipose_ros_generated
BUILD=$VENV/build
STAMP=$VENV/share/unipose_ros/.build_msgs.stamp
CHECK='from unipose_ros.msg import Skeleton3D, Skeleton3DArray; from tf2_msgs.msg import TFMessage
from hri_msgs.msg import IdsList, Skeleton2D
import unipose_training'

# Everything the generated code depends on: a change rebuilds.
stamp_key() {
  (
    cd "$ROOT"
    cat msg/*.msg CMakeLists.txt package.xml cmake/*.cmake cmake/*.in scripts/build_msgs.sh \
        scripts/ros_interfaces/*/CMakeLists.txt scripts/ros_interfaces/*/msg/*.msg
    echo "$VENV $ROOT"
    "$PY" -c 'import sys; print(sys.version)'
  ) | sha256sum | cut -d' ' -f1
}
KEY=$(stamp_key)

# The wheels' bootstrapper sets LD_LIBRARY_PATH when Python starts; keep the environment clean.
py_check() { env -u _ROS_WHEELS_BOOTSTRAP_COMPLETE "$PY" -c "$CHECK" 2>/dev/null; }

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$KEY" ] && (cd / && py_check); then
  log "up to date ($VENV)"
  exit 0
fi

export PATH="$VENV/bin:$PATH"
export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
CMAKE_ARGS=(
  -DCMAKE_BUILD_TYPE=Release
  -DCMAKE_INSTALL_PREFIX="$VENV"
  -DCMAKE_PROJECT_INCLUDE="$ROOT/cmake/ros_wheels_fix.cmake"
  -DPython3_EXECUTABLE="$PY"
  -DBUILD_TESTING=OFF
  # The libraries live in VENV/lib: find them without relying on LD_LIBRARY_PATH.
  -DCMAKE_INSTALL_RPATH="$VENV/lib"
)

build_pkg() {  # name source_dir extra cmake args...
  local name=$1 src=$2; shift 2
  log "building $name"
  # A build folder configured from another checkout cannot be reused.
  if [ -f "$BUILD/$name/CMakeCache.txt" ] \
     && ! grep -qx "CMAKE_HOME_DIRECTORY:INTERNAL=$src" "$BUILD/$name/CMakeCache.txt"; then
    rm -rf "${BUILD:?}/$name"
  fi
  cmake -S "$src" -B "$BUILD/$name" "${CMAKE_ARGS[@]}" "$@" >"$BUILD/$name.configure.log" 2>&1 \
    || { cat "$BUILD/$name.configure.log" >&2; echo "build_msgs: configuring $name failed" >&2; exit 1; }
  cmake --build "$BUILD/$name" -j "$JOBS" --target install >"$BUILD/$name.build.log" 2>&1 \
    || { tail -50 "$BUILD/$name.build.log" >&2; echo "build_msgs: building $name failed" >&2; exit 1; }
}

mkdir -p "$BUILD"
# tf2_msgs, hri_msgs: only where the environment lacks them (the wheels) or where we built them before.
for pkg in tf2_msgs hri_msgs; do
  if [ -f "$VENV/share/$pkg/.unipose_ros_built" ] \
     || ! (cd / && env -u _ROS_WHEELS_BOOTSTRAP_COMPLETE "$PY" -c "import $pkg" 2>/dev/null); then
    build_pkg "$pkg" "$ROOT/scripts/ros_interfaces/$pkg"
    touch "$VENV/share/$pkg/.unipose_ros_built"
  fi
done

build_pkg unipose_ros "$ROOT" \
  -DPYTHON_INSTALL_DIR="$GEN_REL" \
  -DUNIPOSE_INSTALL_PYTHON_SOURCES=OFF \
  -DUNIPOSE_PYTHON_SHEBANG="$PY"

# Let the source package span the generated folder (see the layout above).
printf '%s\n' "$VENV/$GEN_REL/unipose_ros" >"$SITE/unipose_ros.pkg"
cat >"$SITE/unipose_ros_ament_prefix.pth" <<'PTH'
import os, sys; _p = [d for d in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep) if d]; sys.prefix in _p or os.environ.__setitem__('AMENT_PREFIX_PATH', os.pathsep.join(_p + [sys.prefix]))
PTH

if ! (cd / && env -u _ROS_WHEELS_BOOTSTRAP_COMPLETE "$PY" -c "$CHECK"); then
  echo "build_msgs: the messages were built but do not import; is unipose_ros installed" \
       "(pip install -e $ROOT)?" >&2
  exit 1
fi
echo "$KEY" >"$STAMP"
log "done: unipose_ros.msg, tf2_msgs.msg and hri_msgs.msg import from $VENV"
