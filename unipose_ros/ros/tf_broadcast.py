"""The one TF adapter: tf2_ros.TransformBroadcaster when installed, else a plain publisher of
tf2_msgs/msg/TFMessage on /tf with the same QoS (the wire format is identical, so TF listeners
cannot tell the difference)."""
from __future__ import annotations

from typing import Sequence

from geometry_msgs.msg import TransformStamped
from rclpy.node import Node

from unipose_ros.ros.qos import tf_qos


class TfBroadcaster:
    """Send geometry_msgs/TransformStamped lists on /tf.

    Attributes:
        backend: ``"tf2_ros"`` or ``"publisher"``.
    """

    def __init__(self, node: Node) -> None:
        try:
            from tf2_ros import TransformBroadcaster  # type: ignore[import-not-found]
        except ImportError:
            from tf2_msgs.msg import TFMessage

            self._msg_cls = TFMessage
            self._pub = node.create_publisher(TFMessage, "/tf", tf_qos())
            self._broadcaster = None
            self.backend = "publisher"
        else:
            self._broadcaster = TransformBroadcaster(node, qos=tf_qos())
            self._pub = None
            self.backend = "tf2_ros"
        self._node = node

    def send(self, transforms: Sequence[TransformStamped]) -> None:
        """Publish ``transforms`` in one message (nothing when the list is empty)."""
        if not transforms:
            return
        if self._broadcaster is not None:
            self._broadcaster.sendTransform(list(transforms))
        else:
            self._pub.publish(self._msg_cls(transforms=list(transforms)))

    def destroy(self) -> None:
        if self._pub is not None:
            self._node.destroy_publisher(self._pub)
            self._pub = None
