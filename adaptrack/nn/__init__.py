"""Shared neural building blocks: backbones, correlation, FFT ridge regression, temporal shift,
PrRoIPool, IoU-Net, steepest descent. Each exists once and is used by every tracker that needs it."""
