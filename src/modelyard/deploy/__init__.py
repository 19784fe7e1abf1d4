"""Rollouts: a pure plan (what to load, reload, unload) and a runner that drives Triton."""
