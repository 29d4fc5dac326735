"""Person detection: training data from renders (every person pixel known) and the detector's
trainer. The network and its decoding live in ``unipose_ros`` (inference uses the same code)."""
