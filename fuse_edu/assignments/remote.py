"""The student's functions as seen by the tests: proxies that run them in the grading kernel.

A test cell runs in the grading process, with the grading process's own torch, checks and reference
functions. Each name a solution cell defines becomes a ``RemoteFunction``: calling it sends the arguments to
the kernel (``torch.save``, base64; a ``torch.Generator`` travels as its state and comes back advanced),
``kernel_guard.call`` runs the student's function there, and the result returns the same way and is read
with ``torch.load(weights_only=True)``: tensors, numbers, strings and lists, tuples and dicts of them, never
an object the student's code built. So what the student's code patched in its kernel (``torch.allclose``,
the exception machinery, the checks) cannot reach the check.
"""

from __future__ import annotations

import ast
import base64
import io

from fuse_edu.assignments.kernel_guard import GENERATOR_KEY, RESULT_MIME

MAX_RESULT_BYTES = 256 * 2**20


class StudentCodeError(Exception):
    """The student's function raised, or returned nothing the grader can read."""


def defined_names(code: str) -> tuple[list[str], list[str]]:
    """(functions and classes, other assigned names) defined at the top level of ``code`` (the source's
    solution cell, so it parses)."""
    functions, values = [], []
    for node in ast.parse(code).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            functions.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            values.extend(t.id for t in targets if isinstance(t, ast.Name))
    return functions, values


def encode_call(args: tuple, kwargs: dict) -> tuple[str, list]:
    """The base64 payload for ``kernel_guard.call``, and the generators in it (in the order they are sent)."""
    import torch

    generators = []

    def strip(value):
        if isinstance(value, torch.Generator):
            generators.append(value)
            return {GENERATOR_KEY: value.get_state()}
        if isinstance(value, (list, tuple)):
            return type(value)(strip(v) for v in value)
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items()}
        return value

    buffer = io.BytesIO()
    torch.save((strip(tuple(args)), strip(dict(kwargs))), buffer)
    return base64.b64encode(buffer.getvalue()).decode("ascii"), generators


def decode_result(data: list[dict], what: str, generators: list | None = None):
    """The result published by ``kernel_guard`` (the last one, if several); advances ``generators`` as the
    kernel did. StudentCodeError when there is none or it is not plain data."""
    import torch

    payloads = [d[RESULT_MIME] for d in data if isinstance(d.get(RESULT_MIME), str)]
    if not payloads:
        raise StudentCodeError(f"{what} gave no result (its error was hidden or the call was cut short)")
    if len(payloads[-1]) > MAX_RESULT_BYTES:
        raise StudentCodeError(f"{what} returned more than {MAX_RESULT_BYTES // 2**20} MiB")
    try:
        message = torch.load(io.BytesIO(base64.b64decode(payloads[-1])), weights_only=True)
        result, states = message["result"], message["generators"]
    except Exception as error:  # anything but plain data is refused by the weights-only unpickler
        raise StudentCodeError(f"{what} returned something other than tensors, numbers, strings, lists, tuples "
                               f"and dicts ({type(error).__name__})") from None
    for generator, state in zip(generators or [], states):
        generator.set_state(state)
    return result


class RemoteFunction:
    """Calls the student's ``name`` in ``runner``'s kernel (``runner.call(name, args, kwargs)``)."""

    def __init__(self, runner, name: str):
        self.runner, self.name = runner, name
        self.__name__ = name

    def __call__(self, *args, **kwargs):
        return self.runner.call(self.name, args, kwargs)

    def __repr__(self) -> str:
        return f"<the submission's {self.name}>"
