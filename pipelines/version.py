"""Easel's version: the one place it is written (pyproject.toml reads it, pictures' metadata carries it)."""

VERSION = "0.1.0"
