"""3D pose estimators. Every one implements :class:`unipose_ros.estimators.base.Estimator`."""
