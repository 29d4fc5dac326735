"""The one TF adapter: a publisher of tf2_msgs/msg/TFMessage on /tf with tf2_ros's broadcaster
QoS. tf2_ros.TransformBroadcaster is exactly that publisher; owning it lets the node publish a
message it serialised itself (unipose_ros.ros.publishers.tf_message_cdr), and the node runs the
same way where tf2_ros is not installed."""
from __future__ import annotations

from typing import Sequence

from geometry_msgs.msg import TransformStamped
from rclpy.node import Node
from tf2_msgs.msg import TFMessage

from unipose_ros.ros.publishers import tf_typestore
from unipose_ros.ros.qos import tf_qos


class TfBroadcaster:
    """Send TF frames on /tf: a list of geometry_msgs/TransformStamped, or a serialised
    tf2_msgs/TFMessage (bytes)."""

    def __init__(self, node: Node) -> None:
        self._pub = node.create_publisher(TFMessage, "/tf", tf_qos())
        tf_typestore()  # the serializer of tf_message_cdr, made now rather than on the first frame
        self._node = node

    def send(self, transforms: Sequence[TransformStamped] | bytes | None) -> None:
        """Publish ``transforms`` in one message (nothing when empty or None)."""
        if not transforms:
            return
        if isinstance(transforms, bytes):
            self._pub.publish(transforms)
        else:
            self._pub.publish(TFMessage(transforms=list(transforms)))

    def destroy(self) -> None:
        if self._pub is not None:
            self._node.destroy_publisher(self._pub)
            self._pub = None
