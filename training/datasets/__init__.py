"""Training data: synthetic splits with exact ground truth, public datasets, and the reader of any
rosbag2 RGB-D recording."""
