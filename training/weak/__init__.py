"""The weakly supervised pipeline: 2D teacher, point network trained from 2D keypoints, pseudo-labels, 3D lifting."""
