"""ROS 2 adapters (the only part of the package that imports rclpy): the pose node, its
publishers, synchronisation, TF, diagnostics and recording replay."""
