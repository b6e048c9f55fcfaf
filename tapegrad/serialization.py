"""``tapegrad.save`` and ``tapegrad.load``: tensors, state_dicts and optimizer states in one
``.npz`` file, as ``torch.save``/``torch.load`` are used, but never pickled.

The file holds each array under ``t<N>`` and one JSON text (``__tapegrad__``) describing the
object around them: dicts (string or integer keys), lists, tuples, numbers, strings, None.
Loading reads it with ``allow_pickle=False``, so a file can hold data but never run code.
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import IO, Any

import numpy as np

from tapegrad._device import check_cpu
from tapegrad.tensor import Tensor, _wrap

FORMAT = "tapegrad-save/1"
_META = "__tapegrad__"
_SCALARS = (str, int, float, bool, type(None))


class _Writer:
    """Turns an object into its JSON description, collecting the arrays it holds."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self._seen: dict[int, str] = {}  # a tensor saved twice is loaded as one object

    def describe(self, obj: Any, where: str) -> Any:
        if isinstance(obj, Tensor):
            return {"tensor": self._store(obj, obj._data), "requires_grad": obj.requires_grad}
        if isinstance(obj, np.ndarray):
            return {"array": self._store(obj, obj)}
        if isinstance(obj, np.generic):
            return {"value": obj.item()}
        if isinstance(obj, _SCALARS):
            return {"value": obj}
        if isinstance(obj, dict):
            return {"dict": [self._item(k, v, where) for k, v in obj.items()]}
        if isinstance(obj, list | tuple):
            kind = "list" if isinstance(obj, list) else "tuple"
            return {kind: [self.describe(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
        raise TypeError(
            f"tapegrad.save cannot store {where}, a {type(obj).__name__}: it stores tensors, numpy "
            "arrays, numbers, strings, None, and dicts, lists and tuples of them (it never "
            "pickles). Save a model's state_dict() rather than the model."
        )

    def _item(self, key: Any, value: Any, where: str) -> list[Any]:
        if not isinstance(key, str | int) or isinstance(key, bool):
            raise TypeError(
                f"tapegrad.save stores dict keys that are strings or integers, not {key!r} "
                f"(in {where})"
            )
        return [key, self.describe(value, f"{where}[{key!r}]")]

    def _store(self, obj: Any, array: np.ndarray) -> str:
        name = self._seen.get(id(obj))
        if name is None:
            name = self._seen[id(obj)] = f"t{len(self.arrays)}"
            self.arrays[name] = np.asarray(array, order="C")  # ascontiguousarray makes 0-d 1-d
        return name


def save(obj: Any, f: str | os.PathLike[str] | IO[bytes]) -> None:
    """Save ``obj`` (a tensor, a ``state_dict``, an optimizer's state, or dicts/lists of
    tensors and numbers) to the file ``f`` (a path, used exactly as given, or a binary file)."""
    writer = _Writer()
    description = {"format": FORMAT, "object": writer.describe(obj, "the object")}
    arrays = {**writer.arrays, _META: np.array(json.dumps(description))}
    if isinstance(f, str | os.PathLike):
        with open(f, "wb") as handle:  # np.savez would add ".npz" to a path not ending in it
            np.savez(handle, **arrays)
    else:
        np.savez(f, **arrays)


def load(
    f: str | os.PathLike[str] | IO[bytes], map_location: Any = None, weights_only: Any = None
) -> Any:
    """Load what ``tapegrad.save`` stored in ``f``. Nothing in the file is ever run: it is read
    with ``allow_pickle=False``. ``map_location`` may only name the CPU."""
    if map_location is not None:
        check_cpu(map_location)
    try:
        with np.load(f, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise RuntimeError(
            f"tapegrad.load: {_name(f)} is not a file written by tapegrad.save ({exc})"
        ) from None
    description = _description(arrays, f)
    return _Reader(arrays, f).build(description["object"])


def _description(arrays: dict[str, np.ndarray], f: Any) -> dict[str, Any]:
    meta = arrays.pop(_META, None)
    try:
        description = json.loads(str(meta[()])) if meta is not None else None
    except (ValueError, IndexError):
        description = None
    if not isinstance(description, dict) or description.get("format") != FORMAT:
        raise RuntimeError(
            f"tapegrad.load: {_name(f)} is not a file written by tapegrad.save (no "
            f"'{_META}' entry of format {FORMAT})"
        )
    return description


class _Reader:
    """Rebuilds the saved object from its description and arrays."""

    def __init__(self, arrays: dict[str, np.ndarray], f: Any) -> None:
        self.arrays = arrays
        self.f = f
        self._tensors: dict[str, Tensor] = {}

    def build(self, node: Any) -> Any:
        if not isinstance(node, dict) or len(node) not in (1, 2):
            raise self._damaged()
        if "tensor" in node:
            return self._tensor(node["tensor"], bool(node.get("requires_grad", False)))
        if "array" in node:
            return self._array(node["array"]).copy()
        if "value" in node:
            return node["value"]
        if "dict" in node:
            return {key: self.build(value) for key, value in self._pairs(node["dict"])}
        if "list" in node:
            return [self.build(v) for v in node["list"]]
        if "tuple" in node:
            return tuple(self.build(v) for v in node["tuple"])
        raise self._damaged()

    def _pairs(self, items: Any) -> list[tuple[Any, Any]]:
        if not isinstance(items, list) or not all(
            isinstance(p, list) and len(p) == 2 and isinstance(p[0], str | int) for p in items
        ):
            raise self._damaged()
        return [(p[0], p[1]) for p in items]

    def _tensor(self, name: Any, requires_grad: bool) -> Tensor:
        if name not in self._tensors:
            t = _wrap(self._array(name).copy())
            if requires_grad:
                t.requires_grad_(True)
            self._tensors[name] = t
        return self._tensors[name]

    def _array(self, name: Any) -> np.ndarray:
        if not isinstance(name, str) or name not in self.arrays:
            raise self._damaged()
        return self.arrays[name]

    def _damaged(self) -> RuntimeError:
        return RuntimeError(
            f"tapegrad.load: {_name(self.f)} is damaged: its description does not match its arrays"
        )


def _name(f: Any) -> str:
    return repr(os.fspath(f)) if isinstance(f, str | os.PathLike) else "the file"
