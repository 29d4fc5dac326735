"""The DDS transport for camera-sized messages between processes (Fast DDS).

Fast DDS's default shared-memory segment is too small for camera images, so images between two
processes travel as UDP fragments and best-effort subscribers lose most of them (see the profile
``fastdds_large_data.xml`` for the measurements). The profile here gives every participant a
64 MB segment. It must be set for the *publishing* process (the camera driver, a replay), which
owns the segment; setting it for the pose node alone does not help.

Pure Python (no rclpy): the launch files, the demo, the benchmarks and the tests use it before
any participant exists.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

#: The Fast DDS XML profile shipped with the package.
PROFILE = Path(__file__).with_name("fastdds_large_data.xml")
#: Fast DDS 3 (Kilted) reads the first, Fast DDS 2 (Humble, Jazzy) the second; Fast DDS 3 also
#: reads the second but warns that it is deprecated, once per participant.
PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")


def fastdds_major(env: Mapping[str, str]) -> int | None:
    """3 or 2: the Fast DDS whose library (``libfastdds.so``, ``libfastrtps.so``) is found first
    in the library folders of ``env`` (LD_LIBRARY_PATH, then ``<prefix>/lib`` of
    AMENT_PREFIX_PATH and of this Python); None when neither is found."""
    import sys

    dirs = [d for d in env.get("LD_LIBRARY_PATH", "").split(":") if d]
    dirs += [str(Path(p) / "lib") for p in env.get("AMENT_PREFIX_PATH", "").split(":") if p]
    dirs.append(str(Path(sys.prefix) / "lib"))
    for d in dirs:
        if (Path(d) / "libfastdds.so").exists():
            return 3
        if (Path(d) / "libfastrtps.so").exists():
            return 2
    return None


def profile_variables(env: Mapping[str, str]) -> tuple[str, ...]:
    """The variable(s) the Fast DDS of ``env`` reads (:func:`fastdds_major`): one when the
    version is known, both when not."""
    major = fastdds_major(env)
    return PROFILE_VARIABLES if major is None else (PROFILE_VARIABLES[0] if major == 3 else PROFILE_VARIABLES[1],)
#: RMW implementations that are Fast DDS (an unset RMW_IMPLEMENTATION is Fast DDS too).
FASTDDS_RMWS = ("", "rmw_fastrtps_cpp", "rmw_fastrtps_dynamic_cpp")


def uses_fastdds(env: Mapping[str, str]) -> bool:
    """True when a process started with ``env`` talks through Fast DDS."""
    return env.get("RMW_IMPLEMENTATION", "") in FASTDDS_RMWS


def has_profile(env: Mapping[str, str]) -> bool:
    """True when ``env`` already names a Fast DDS profile file (ours or the user's)."""
    return any(env.get(v) for v in PROFILE_VARIABLES)


def large_data_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The variables to add to ``env`` so that its processes use :data:`PROFILE` (the one its
    Fast DDS reads, :func:`profile_variables`), unless the RMW is not Fast DDS or a profile is
    already named (the user's choice wins). Returns {} when nothing is to be set."""
    if not uses_fastdds(env) or has_profile(env):
        return {}
    return {v: str(PROFILE) for v in profile_variables(env)}


def use_large_data_profile(env: dict[str, str]) -> dict[str, str]:
    """Add :func:`large_data_environment` to ``env`` in place (e.g. ``os.environ`` before the
    first rclpy participant, or a subprocess's env); returns what was added."""
    extra = large_data_environment(env)
    env.update(extra)
    return extra


def transport_hint(env: Mapping[str, str]) -> str | None:
    """A one-line explanation for a node that sees its camera stream arrive with gaps: None when
    the RMW is not Fast DDS or a profile is named, else what to set."""
    if not uses_fastdds(env) or has_profile(env):
        return None
    names = " or ".join(profile_variables(env))
    return ("Fast DDS without a profile loses best-effort camera images between processes: run the "
            f"camera driver (and this node) with {names}={PROFILE} (the launch files do)")


def launch_actions(default_profile: str | None = None) -> list:
    """Launch actions for a launch file (needs the ``launch`` package, i.e. a ROS 2 install): the
    argument ``dds_profile`` (default: the profile already named in the environment, else
    :data:`PROFILE`; empty leaves DDS as it is) and, when it is not empty, the profile
    variable(s) of the installed Fast DDS set to it for every process the launch file starts
    after them (the camera driver included, which owns the images' shared memory)."""
    import os

    from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
    from launch.conditions import IfCondition
    from launch.substitutions import LaunchConfiguration, PythonExpression

    if default_profile is None:
        default_profile = next((os.environ[v] for v in PROFILE_VARIABLES if os.environ.get(v)), str(PROFILE))
    profile = LaunchConfiguration("dds_profile")
    given = IfCondition(PythonExpression(["'", profile, "' != ''"]))
    return [DeclareLaunchArgument(
        "dds_profile", default_value=default_profile,
        description="Fast DDS XML profile for camera-sized messages (a 64 MB shared-memory segment); "
                    "empty: leave DDS as configured")] + [
        SetEnvironmentVariable(v, profile, condition=given) for v in profile_variables(os.environ)]
