"""What runs inside a grading kernel before the student's code: the guard, and the call helper.

``install(references, workdir)`` (once, after the source's setup cells, before any solution code):

- **Reference functions refused.** Each ``"module:attr"`` in ``references`` (e.g. ``fuse_edu.tensor:tprod``) is
  replaced, in its module and wherever another loaded module or the user namespace holds the same object, by a
  function that raises PermissionError. Reading the reference module's file (or its bytecode) is refused, so
  ``importlib.reload``, a fresh import and ``inspect.getsource`` cannot bring it back.
- **An audit hook** (``sys.addaudithook``: it cannot be removed) refuses: starting processes (subprocess,
  ``os.system``, fork, exec, spawn; ``_posixsubprocess.fork_exec``, which raises no event, is deleted and its
  module may not be loaded again), signalling other processes, ``ctypes``, ``gc``'s object walks (which could
  reach the hook's state), sockets, making links; writing, renaming or deleting files outside ``workdir``,
  ``os.open`` outside it (so no descriptor of an outside folder), and reading any notebook (``.ipynb``) outside
  it; a path that is not exactly a str or bytes. Its state lives in closure cells of immutable values, and it
  calls no global name and no patchable library function, so rebinding module globals, builtins or
  ``os.path`` does not switch it off.

``call(name, payload)`` runs the student's function ``name`` on the arguments in ``payload`` (base64 of
``torch.save``; generators travel as their state) and publishes the result the same way, as display data of
type ``RESULT_MIME``; the grading process reads it with ``torch.load(weights_only=True)`` and checks it there.

What is *not* enforced (the kernel runs as the grading user): memory limits, CPU use besides the per-cell
timeout, and reading ordinary files the user may read. docs/assignments.md lists it all.
"""

from __future__ import annotations

RESULT_MIME = "application/x-fuse-edu-result"
GENERATOR_KEY = "__fuse_edu_generator_state__"

_REFUSED_EVENTS = frozenset({
    "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
    "os.startfile", "os.kill", "os.killpg", "signal.pthread_kill", "pty.spawn", "os.symlink", "os.link",
    "ctypes.dlopen", "ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.cdata", "ctypes.PyObj_FromPtr",
    "ctypes.addressof", "ctypes.string_at", "ctypes.wstring_at", "ctypes.call_function",
    "gc.get_objects", "gc.get_referrers", "gc.get_referents",
    "socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
    "sys.setprofile", "sys.settrace", "sys._current_frames",
})
_PATH_EVENTS = frozenset({"os.remove", "os.rmdir", "os.rename", "os.truncate",
                          "os.chmod", "os.chown", "os.mkdir", "os.utime", "shutil.rmtree", "shutil.copyfile",
                          "shutil.copymode", "shutil.copystat", "shutil.move", "shutil.chown"})


def _refusal(name: str):
    def refused(*args, **kwargs):
        raise PermissionError(f"{name} is not available while this assignment is graded: write your own")
    refused.__name__ = name.rsplit(".", 1)[-1]
    return refused


def _block_references(references: list[str]) -> frozenset:
    """Replace each reference everywhere it is held; returns the (device, inode) of their modules' files and
    bytecode, so no path to them, however spelt, can be opened."""
    import importlib
    import importlib.util
    import os
    import sys

    replaced, files = [], set()
    for ref in references:
        module_name, _, attr = ref.partition(":")
        module = importlib.import_module(module_name)
        owner, obj = module, module
        for part in attr.split("."):
            owner, obj = obj, getattr(obj, part)
        refusal = _refusal(f"{module_name}.{attr}")
        setattr(owner, attr.split(".")[-1], refusal)
        replaced.append((obj, refusal))
        source = module.__file__
        cache = os.path.dirname(importlib.util.cache_from_source(source))
        stem = os.path.basename(source).rsplit(".", 1)[0] + "."
        paths = [source] + [os.path.join(cache, n) for n in (os.listdir(cache) if os.path.isdir(cache) else [])
                            if n.startswith(stem)]
        files.update((st.st_dev, st.st_ino) for st in map(os.stat, paths))
    namespaces = [vars(m) for m in list(sys.modules.values()) if hasattr(m, "__dict__")]
    try:
        namespaces.append(get_ipython().user_ns)  # noqa: F821 (the kernel's user namespace)
    except NameError:
        pass
    for namespace in namespaces:
        for key, value in list(namespace.items()):
            for original, refusal in replaced:
                if value is original:
                    namespace[key] = refusal
    return frozenset(files)


def _make_hook(workdir: str, blocked_files: frozenset, refused_events=_REFUSED_EVENTS, path_events=_PATH_EVENTS):
    """The audit hook. Every name it uses is bound here, at install time: built-in functions and str methods,
    which student code cannot patch. Paths are judged lexically (``..`` and ``.`` folded against the current
    directory; the guard refuses making links, so no link inside the working folder leads out), except the
    reference files, judged by inode."""
    import os

    getcwd, stat, fspath = os.getcwd, os.stat, os.fspath
    writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    inside_prefix = workdir.rstrip("/") + "/"
    kind, str_type, bytes_type, int_type, any_, error, os_error = type, str, bytes, int, any, PermissionError, OSError

    def absolute(path):
        """``path`` (exactly a str or bytes; anything else, which could answer differently when asked twice, is
        refused) as an absolute path with ``.`` and ``..`` folded."""
        if kind(path) is bytes_type:
            path = path.decode(errors="replace")
        elif kind(path) is not str_type:
            raise error(f"paths must be str or bytes while grading, not {kind(path).__name__}")
        if not path.startswith("/"):
            path = getcwd() + "/" + path
        parts = []
        for part in path.split("/"):
            if part == "..":
                if parts:
                    parts.pop()
            elif part and part != ".":
                parts.append(part)
        return "/" + "/".join(parts)

    def inside(path):
        return path == workdir or path.startswith(inside_prefix)

    def hook(event, args):
        if event in refused_events:
            raise error(f"{event} is refused while grading")
        if event == "import" and args[0] == "_posixsubprocess":  # a fresh copy would bring fork_exec back
            raise error("importing _posixsubprocess again is refused while grading")
        if event == "open":
            path, mode, flags = args
            if kind(path) is int_type:
                return  # an already open descriptor: it was judged when it was opened
            path = absolute(path)
            try:
                st = stat(path)
                if (st.st_dev, st.st_ino) in blocked_files:
                    raise error(f"reading {path} is refused while grading")
            except os_error as problem:
                if kind(problem) is error:
                    raise
            if mode is None and not inside(path):  # os.open: a descriptor (of a folder, too) only inside
                raise error(f"os.open of {path} is refused while grading: only the working folder is open")
            writes = any_(c in mode for c in "wax+") if kind(mode) is str_type else bool((flags or 0) & writing)
            if writes and not inside(path):
                raise error(f"writing {path} is refused while grading: only the working folder is writable")
            if path.endswith(".ipynb") and not inside(path):
                raise error(f"reading {path} is refused while grading")
        elif event in path_events:
            for arg in args[:2]:
                if arg is not None and kind(arg) is not int_type and not inside(absolute(arg)):
                    raise error(f"{event} outside the working folder is refused while grading")
    return hook


def install(references: list[str], workdir: str) -> None:
    """Refuse the reference functions and add the audit hook (module docstring); call once, before student code."""
    import os
    import sys

    blocked_files = _block_references(list(references))
    import _posixsubprocess  # subprocess's own fork-and-exec, which raises no audit event of its own

    del _posixsubprocess.fork_exec
    sys.addaudithook(_make_hook(os.path.realpath(workdir), blocked_files))


def _encode(value) -> str:
    import base64
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(value, buffer)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def call(name: str, payload: str) -> None:
    """Run the student's ``name`` on the decoded arguments; publish {result, generator states} (module docstring)."""
    import base64
    import io

    import torch
    from IPython.display import publish_display_data

    args, kwargs = torch.load(io.BytesIO(base64.b64decode(payload)), weights_only=True)
    generators = []

    def rebuild(value):
        if isinstance(value, dict) and GENERATOR_KEY in value:
            generator = torch.Generator()
            generator.set_state(value[GENERATOR_KEY])
            generators.append(generator)
            return generator
        if isinstance(value, (list, tuple)):
            return type(value)(rebuild(v) for v in value)
        if isinstance(value, dict):
            return {k: rebuild(v) for k, v in value.items()}
        return value

    namespace = get_ipython().user_ns  # noqa: F821
    if name not in namespace:
        raise NameError(f"name {name!r} is not defined")
    result = namespace[name](*rebuild(args), **rebuild(kwargs))
    states = [g.get_state() for g in generators]
    publish_display_data({RESULT_MIME: _encode({"result": result, "generators": states})})


def value(name: str) -> None:
    """Publish the value of the student's variable ``name`` (for tests that read a value, not a function)."""
    from IPython.display import publish_display_data

    namespace = get_ipython().user_ns  # noqa: F821
    if name not in namespace:
        raise NameError(f"name {name!r} is not defined")
    publish_display_data({RESULT_MIME: _encode({"result": namespace[name], "generators": []})})
