"""Hugging Face ZeroGPU: on such a Space a GPU is attached only inside functions marked @spaces.GPU.

ZeroGPU runs a marked function in a forked process, so the marked function is the whole handler (it
builds the request, runs the engine and writes the pictures there); elsewhere the mark is a no-op.
"""

from __future__ import annotations

import os


def on_gpu(function):
    if not os.environ.get("SPACE_ID"):
        return function
    try:
        import spaces
    except ImportError:  # a Space on ordinary hardware
        return function
    return spaces.GPU(duration=120)(function)
