"""Stand-in included by unipose_realsense.launch.py when start_camera:=true but realsense2_camera is
not installed: it stops the launch with the command that installs it."""
from launch.actions import LogInfo, Shutdown

from launch import LaunchDescription


def generate_launch_description():
    return LaunchDescription([
        LogInfo(msg="start_camera:=true needs realsense2_camera: sudo apt install ros-$ROS_DISTRO-realsense2-camera "
                    "(or start the camera yourself and leave start_camera false)"),
        Shutdown(reason="realsense2_camera is not installed"),
    ])
