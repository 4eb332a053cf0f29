"""Keras callbacks: each captures something at an epoch boundary and hands it to lib/."""
