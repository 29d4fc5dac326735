"""Synthetic RGB-D recordings with exact 3D ground truth: motion clips (motions), the anny body
(bodies), room and camera (scene), ray-cast rendering (render), depth sensor model (sensor) and
the recording generator (recording)."""
