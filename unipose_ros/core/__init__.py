"""Core types shared by every path: joint sets, camera, frames, poses, metrics (no ROS)."""
