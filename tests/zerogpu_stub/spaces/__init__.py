"""A stand-in for Hugging Face's `spaces` package, put on sys.path by tests/test_zerogpu.py.

It keeps the real decorator's interface (`spaces.GPU(duration=callable)(function)`, generators included)
and records what it marks and each call that goes through a mark, with the duration asked for. Like the
real one, a generator's consumer closing it closes the marked generator at its next step.
"""

from __future__ import annotations

import functools
import inspect

marked: list[str] = []  # names of the functions marked, in order
calls: list[tuple[str, float]] = []  # (name, seconds asked for) of each call through a mark


def reset() -> None:
    marked.clear()
    calls.clear()


def GPU(task=None, *, duration=None, size=None):  # noqa: N802 - the real package's name
    if task is None:
        return functools.partial(GPU, duration=duration, size=size)
    name = task.__name__
    marked.append(name)

    def seconds(args, kwargs):
        return duration(*args, **kwargs) if callable(duration) else (duration or 60)

    if inspect.isgeneratorfunction(task):
        @functools.wraps(task)
        def generator(*args, **kwargs):
            calls.append((name, seconds(args, kwargs)))
            inner = task(*args, **kwargs)
            try:
                yield from inner
            finally:
                inner.close()

        return generator

    @functools.wraps(task)
    def function(*args, **kwargs):
        calls.append((name, seconds(args, kwargs)))
        return task(*args, **kwargs)

    return function
