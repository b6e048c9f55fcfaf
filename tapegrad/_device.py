"""``tapegrad.device``: where a tensor lives. tapegrad computes with numpy, on the CPU only."""

from __future__ import annotations

from typing import Any

# PyTorch's device types, in the order its error message lists them.
_KNOWN_TYPES = [
    "cpu",
    "cuda",
    "ipu",
    "xpu",
    "mkldnn",
    "opengl",
    "opencl",
    "ideep",
    "hip",
    "ve",
    "fpga",
    "maia",
    "xla",
    "lazy",
    "vulkan",
    "mps",
    "meta",
    "hpu",
    "mtia",
    "privateuseone",
]


class device:  # noqa: N801 - PyTorch's name
    """A device, as ``torch.device``: ``device("cpu")``, ``device("cuda", 0)``, ``"cuda:0"``.

    Any of PyTorch's device types can be named; tensors can only be on ``cpu``.
    """

    __slots__ = ("type", "index")

    def __init__(self, type: Any, index: int | None = None) -> None:  # noqa: A002 - torch's name
        if isinstance(type, device):
            self.type, self.index = type.type, type.index
            return
        if not isinstance(type, str):
            raise TypeError(
                f"device() received an invalid combination of arguments - got ({_kind(type)}), "
                "but expected one of: (tapegrad.device device) or (str type, int index = -1)"
            )
        name, _, number = type.partition(":")
        if name not in _KNOWN_TYPES:
            raise RuntimeError(
                f"Expected one of {', '.join(_KNOWN_TYPES)} device type at start of device "
                f"string: {type}"
            )
        if number and not number.isdigit():
            raise RuntimeError(f"Invalid device string: '{type}'")
        if number and index is not None:
            raise RuntimeError(
                "type (string) must not include an index because index was passed "
                f"explicitly: {type}"
            )
        self.type = name
        self.index = int(number) if number else index

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))


CPU = device("cpu")


def check_cpu(where: Any) -> device:
    """``where`` as a device, refused unless it is the CPU (the only device tapegrad has)."""
    target = device(where) if not isinstance(where, int) else device("cuda", where)
    if target.type == "cpu":
        return target
    if target.type == "cuda":
        raise RuntimeError(
            "tapegrad runs on the CPU only (it computes with numpy): it has no CUDA device. "
            "Use 'cpu', or pick the device as `'cuda' if tapegrad.cuda.is_available() else 'cpu'`."
        )
    raise RuntimeError(
        f"tapegrad runs on the CPU only (it computes with numpy): it has no '{target.type}' "
        "device. Use 'cpu'."
    )


def _kind(value: Any) -> str:
    return type(value).__name__
