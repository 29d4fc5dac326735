"""unipose_ros: 3D human skeletons from RGB-D cameras for ROS 2.

The algorithm core (``core``, ``io``, ``estimators``, ``teachers``, ``synthetic``) imports no ROS
module; ``ros`` holds the thin rclpy adapters.
"""
# The generated messages (``unipose_ros.msg``) may be installed in another prefix than the sources
# (a virtualenv next to an editable checkout): let the package span both locations.
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

__version__ = "0.1.0"
