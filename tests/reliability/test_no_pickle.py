"""The .mar holds no pickle that could run code: every file of the archive (and of any zip inside
it) is scanned for pickle streams. The one stream allowed is the structure of the state_dict that
torch's zip format stores as `data.pkl` inside weights.pt; its imports must all be on torch's
weights-only allowlist, and the archived loading code must refuse anything else (a crafted
weights file whose payload would run on a plain `torch.load` is refused and never runs).

tests/model/test_forecaster.py checks the training artifact's weights.pt alone; this covers the
whole archive as TorchServe receives it.
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import torch

PROTOCOL_HEADER = re.compile(rb"\x80[\x02-\x05]")  # PROTO opcode: every pickle of protocol 2+
# torch's zip format: `<name>/data/<n>` are raw tensor bytes, read by offset and never unpickled
TORCH_STORAGE = re.compile(r"(^|/)[^/]+/data/\d+$")
WEIGHTS_ONLY_GLOBALS = re.compile(
    r"torch\._utils _rebuild_tensor_v2|torch [A-Za-z]*Storage|collections OrderedDict"
)


def pickle_streams(name: str, data: bytes) -> dict[str, bytes]:
    """Every pickle in `data` (recursing into zips), keyed `path@offset`."""
    if zipfile.is_zipfile(io.BytesIO(data)):
        found = {}
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                if not TORCH_STORAGE.search(member):
                    found.update(pickle_streams(f"{name}/{member}", archive.read(member)))
        return found
    starts = {0} | {match.start() for match in PROTOCOL_HEADER.finditer(data)}
    return {f"{name}@{start}": data[start:] for start in sorted(starts) if parses(data[start:])}


def parses(data: bytes) -> bool:
    """`data` starts with a pickle: opcodes that decode through to STOP, with something between."""
    try:
        return len(list(pickletools.genops(data))) > 2
    except Exception:  # genops raises ValueError, KeyError or struct errors on non-pickle bytes
        return False


def imported_globals(stream: bytes) -> list[str]:
    """`module name` of every GLOBAL and STACK_GLOBAL; an unresolvable STACK_GLOBAL is '?'."""
    names, pushed, memo = [], [], {}
    for op, arg, _ in pickletools.genops(stream):
        if op.name == "GLOBAL":
            names.append(arg)
            pushed.append(None)
        elif op.name == "STACK_GLOBAL":
            module, name = pushed[-2:] if len(pushed) >= 2 else (None, None)
            names.append(f"{module} {name}" if module and name else "?")
            pushed.append(None)
        elif op.name in ("MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"):
            memo[len(memo) if arg is None else arg] = pushed[-1] if pushed else None
        elif op.name in ("GET", "BINGET", "LONG_BINGET"):
            pushed.append(memo.get(arg))
        else:
            pushed.append(arg if isinstance(arg, str) and "UNICODE" in op.name else None)
    return names


def test_the_only_pickle_in_the_archive_is_the_state_dicts_structure(tiny_mar: Path) -> None:
    streams = pickle_streams(tiny_mar.name, tiny_mar.read_bytes())
    assert list(streams) == ["stockcast.mar/weights.pt/weights/data.pkl@0"]


def test_that_pickle_imports_only_what_weights_only_loading_allows(tiny_mar: Path) -> None:
    [stream] = pickle_streams(tiny_mar.name, tiny_mar.read_bytes()).values()
    used = imported_globals(stream)
    assert "torch._utils _rebuild_tensor_v2" in used
    assert [name for name in used if not WEIGHTS_ONLY_GLOBALS.fullmatch(name)] == []


def test_the_scan_finds_a_pickle_hidden_in_any_file(tmp_path: Path) -> None:
    """The scanner itself can fail: a pickle inside a JSON-named file of a zip is reported."""
    prefix = b'{"note": 1}'
    archive = tmp_path / "hidden.mar"
    with zipfile.ZipFile(archive, "w") as mar:
        mar.writestr("forecaster.json", prefix + pickle.dumps({"a": 1}, protocol=2))
        mar.writestr("handler.py", b"print('hello')\n")
    found = pickle_streams("hidden.mar", archive.read_bytes())
    assert list(found) == [f"hidden.mar/forecaster.json@{len(prefix)}"]
    assert imported_globals(pickle.dumps(os.mkdir, protocol=4)) == ["posix mkdir"]


class Payload:
    """Unpickling this creates a directory: the stand-in for arbitrary code in a weights file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.mkdir, (str(self.marker),))


def test_the_archived_loader_refuses_weights_that_would_run_code(
    tiny_mar: Path, tmp_path: Path
) -> None:
    model_dir = tmp_path / "model"
    with zipfile.ZipFile(tiny_mar) as mar:
        mar.extractall(model_dir)
    weights = torch.load(model_dir / "weights.pt", weights_only=True)
    marker = tmp_path / "payload-ran"
    torch.save({**weights, "payload": Payload(marker)}, model_dir / "weights.pt")

    # the handler's loading path, from the archive's own copy of the package
    load = (
        "import sys; sys.path.insert(0, sys.argv[1]); import stockcast; "
        "assert stockcast.__file__.startswith(sys.argv[1]), stockcast.__file__; "
        "from stockcast.model.forecaster import Forecaster; Forecaster.load(sys.argv[1])"
    )
    result = subprocess.run(
        [sys.executable, "-c", load, str(model_dir)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "Weights only load failed" in result.stderr
    assert not marker.exists()

    # the control: the same file under a plain unpickler runs the payload
    torch.load(model_dir / "weights.pt", weights_only=False)
    assert marker.is_dir()
