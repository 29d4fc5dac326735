"""Conversions between ROS messages and numpy, and RGB-D recordings.

Converters read messages by field name only, so the same functions serve rclpy messages (a live
node) and rosbags messages (recordings); writers are given the message class to build. Nothing
here imports a ROS module.

- ``image``: sensor_msgs/Image <-> numpy (colour and depth)
- ``pointcloud``: sensor_msgs/PointCloud2 <-> numpy
- ``camera_info``: sensor_msgs/CameraInfo <-> PinholeCamera
- ``skeleton``: PersonPose <-> unipose_ros/Skeleton3DArray
- ``bag``: RecordingWriter / RecordingReader (rosbag2, MCAP or sqlite3)
- ``messages``: building messages of either family
- ``typestore``: the rosbags typestore with this package's messages
"""
