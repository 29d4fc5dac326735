"""Training pipeline of unipose_ros (importable as ``unipose_training``; imports no ROS module)."""
