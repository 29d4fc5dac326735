"""Launch files (the launch package is not installed here, so they are read, not run): they compile,
every LaunchConfiguration they read is declared, and the arguments robots need exist."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

LAUNCH = Path(__file__).resolve().parents[1] / "launch"
FILES = sorted(LAUNCH.glob("*.launch.py"))


def _calls(tree: ast.AST, name: str) -> list[str]:
    """First string argument of every call to ``name`` (or to a helper taking the name)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in (name, "_bool"):
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                out.append(node.args[0].value)
    return out


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_launch_configuration_is_declared(path):
    tree = ast.parse(path.read_text(), str(path))
    compile(tree, str(path), "exec")
    declared = set(_calls(tree, "DeclareLaunchArgument"))
    used = set(_calls(tree, "LaunchConfiguration"))
    assert used <= declared, f"{path.name}: read but not declared: {sorted(used - declared)}"
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in tree.body)


def test_the_robot_launch_takes_what_robots_need():
    tree = ast.parse((LAUNCH / "unipose_realsense.launch.py").read_text())
    declared = set(_calls(tree, "DeclareLaunchArgument"))
    assert {"start_camera", "namespace", "target_frame", "checkpoint", "use_sim_time", "transport"} <= declared
    replay = set(_calls(ast.parse((LAUNCH / "unipose_replay.launch.py").read_text()), "DeclareLaunchArgument"))
    assert {"recording", "rate", "namespace", "checkpoint"} <= replay
