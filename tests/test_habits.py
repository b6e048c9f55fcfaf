"""PyTorch habits: subpackages after ``import tapegrad``, devices, ``to``/``type``/``cpu``,
``format`` on 0-d tensors, ``del t.grad``, ``detach_``, ``output_nr``, ``new_*``, save/load."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import tapegrad as tg


def _torch():
    return pytest.importorskip("torch")


# ------------------------------------------------------------------ import tapegrad


def test_import_tapegrad_gives_the_subpackages_without_cli_libraries():
    code = (
        "import sys, tapegrad as tg\n"
        "tg.nn.Linear(2, 1); tg.nn.functional.relu; tg.optim.SGD; tg.optim.Adam\n"
        "tg.autograd.grad; tg.autograd.graph.walk; tg.cuda.is_available\n"
        "print(sorted(m for m in ('click', 'rich', 'yaml') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


# ------------------------------------------------------------------ devices


def test_device_reads_as_torch_device():
    torch = _torch()
    for args in [("cpu",), ("cuda", 1), ("cuda:0",), ("mps",)]:
        ours, theirs = tg.device(*args), torch.device(*args)
        assert repr(ours) == repr(theirs)
        assert str(ours) == str(theirs)
        assert (ours.type, ours.index) == (theirs.type, theirs.index)
    assert tg.device("cpu") == tg.device("cpu")
    assert tg.device("cpu") != tg.device("cuda")
    assert (tg.device("cpu") == "cpu") == (torch.device("cpu") == "cpu")
    assert tg.ones(2).device == tg.device("cpu")
    assert tg.ones(2).is_cpu and not tg.ones(2).is_cuda


@pytest.mark.parametrize("bad", ["cpux", "cuda:x", "gpu"])
def test_device_bad_strings_are_refused_as_torch(bad):
    torch = _torch()
    with pytest.raises(RuntimeError) as theirs:
        torch.device(bad)
    with pytest.raises(RuntimeError) as ours:
        tg.device(bad)
    assert str(ours.value) == str(theirs.value)


def test_cuda_is_never_available_and_refused_with_advice():
    assert tg.cuda.is_available() is False
    assert tg.cuda.device_count() == 0
    device = "cuda" if tg.cuda.is_available() else "cpu"
    x = tg.ones(2).to(device)
    assert x.device.type == "cpu"
    for call in (
        lambda: tg.ones(2).to("cuda"),
        lambda: tg.ones(2).cuda(),
        lambda: tg.ones(2).to(0),
    ):
        with pytest.raises(RuntimeError, match="CPU only.*tapegrad.cuda.is_available"):
            call()
    with pytest.raises(RuntimeError, match="no 'mps' device"):
        tg.ones(2).to("mps")


# ------------------------------------------------------------------ to, type, cpu


TO_CALLS = [
    ("to('cpu')", lambda ns, t: t.to("cpu")),
    ("to(device)", lambda ns, t: t.to(ns.device("cpu"))),
    ("to(float64)", lambda ns, t: t.to(ns.float64)),
    ("to(cpu, float64)", lambda ns, t: t.to("cpu", ns.float64)),
    ("to(dtype=, device=)", lambda ns, t: t.to(dtype=ns.float64, device="cpu")),
    ("to(other)", lambda ns, t: t.to(ns.ones(1, dtype=ns.float64))),
    ("to(int64)", lambda ns, t: t.to(ns.int64)),
    ("to(float32, copy=True)", lambda ns, t: t.to(ns.float32, copy=True)),
    ("to(float32)", lambda ns, t: t.to(ns.float32)),
    ("to()", lambda ns, t: t.to()),
    ("cpu()", lambda ns, t: t.cpu()),
    ("double()", lambda ns, t: t.double()),
    ("half()", lambda ns, t: t.half()),
    ("type(float64)", lambda ns, t: t.type(ns.float64)),
    ("type_as(int32)", lambda ns, t: t.type_as(ns.ones(1, dtype=ns.int32))),
    ("contiguous()", lambda ns, t: t.contiguous()),
]


@pytest.mark.parametrize(("desc", "call"), TO_CALLS, ids=[d for d, _ in TO_CALLS])
def test_to_and_its_shorthands_match_torch(desc, call):
    torch = _torch()
    x = tg.tensor([1.5, -2.0], requires_grad=True)
    tx = torch.tensor([1.5, -2.0], requires_grad=True)
    y, ty = call(tg, x), call(torch, tx)
    assert (y is x) == (ty is tx)
    assert str(y.dtype).split(".")[1] == str(ty.dtype).split(".")[1]
    assert y.requires_grad == ty.requires_grad
    ours = None if y.grad_fn is None else y.grad_fn.name()
    theirs = None if ty.grad_fn is None else type(ty.grad_fn).__name__
    assert ours == theirs
    if y.requires_grad and y is not x:
        y.float().sum().backward()
        ty.float().sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


def test_type_names_match_torch_for_every_dtype():
    torch = _torch()
    for name in [
        "float16",
        "float32",
        "float64",
        "int8",
        "uint8",
        "int16",
        "int32",
        "int64",
        "bool",
    ]:
        ours = tg.ones(1, dtype=getattr(tg, name)).type()
        theirs = torch.ones(1, dtype=getattr(torch, name)).type()
        assert ours == theirs.replace("torch.", "tapegrad.")
    assert tg.ones(2).type("torch.DoubleTensor").dtype == tg.float64
    assert tg.ones(2).type("tapegrad.LongTensor").dtype == tg.int64


def test_to_refuses_what_is_neither_dtype_nor_device():
    with pytest.raises(TypeError, match="expected a dtype, a device"):
        tg.ones(2).to([1])
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        tg.ones(2).to(colour="red")


def test_size_queries_match_torch():
    torch = _torch()
    for name in ["float16", "float32", "float64", "int64", "bool"]:
        x, tx = tg.ones(2, 3, dtype=getattr(tg, name)), torch.ones(2, 3, dtype=getattr(torch, name))
        assert x.element_size() == tx.element_size()
        assert x.nelement() == tx.nelement() == 6
        assert x.ndimension() == tx.ndimension() == 2
        assert x.is_floating_point() == tx.is_floating_point()
        assert x.is_contiguous() and tx.is_contiguous()


# ------------------------------------------------------------------ format


@pytest.mark.parametrize("spec", [".4f", "", ">12", "e", ".2%", "g", "+.1f"])
def test_format_of_0d_tensors_matches_torch(spec):
    torch = _torch()
    assert format(tg.tensor(3.14159), spec) == format(torch.tensor(3.14159), spec)
    assert format(tg.tensor(3.14159, dtype=tg.float64), spec) == format(
        torch.tensor(3.14159, dtype=torch.float64), spec
    )


def test_format_of_a_loss_and_of_larger_tensors():
    torch = _torch()
    loss = (tg.tensor([1.0, 2.0], requires_grad=True) ** 2).sum()
    assert f"loss {loss:.4f}" == "loss 5.0000"
    assert format(tg.tensor(7), ">4") == format(torch.tensor(7), ">4")
    assert format(tg.tensor(True), "") == format(torch.tensor(True), "")
    assert format(tg.ones(2), "") == str(tg.ones(2))
    with pytest.raises(TypeError) as ours:
        format(tg.ones(2), ".2f")
    with pytest.raises(TypeError) as theirs:
        format(torch.ones(2), ".2f")
    assert str(ours.value) == str(theirs.value)


# ------------------------------------------------------------------ graph habits


def test_del_grad_resets_it_to_none():
    x = tg.ones(2, requires_grad=True)
    (x * 2).sum().backward()
    assert x.grad is not None
    del x.grad
    assert x.grad is None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_detach_in_place_matches_torch():
    torch = _torch()
    for ns in (tg, torch):
        x = ns.ones(3, requires_grad=True)
        y = x * 2
        assert y.detach_() is y
        assert not y.requires_grad and y.grad_fn is None and y.is_leaf
        assert x.detach_() is x and not x.requires_grad
        z = ns.ones(3, requires_grad=True) * 2
        with pytest.raises(RuntimeError, match="Can't detach views in-place. Use detach"):
            z[1:].detach_()


def test_output_nr_matches_torch():
    torch = _torch()
    outs = {}
    for ns in (tg, torch):

        class Two(ns.autograd.Function):
            @staticmethod
            def forward(ctx, a):
                return a * 2, a * 3

            @staticmethod
            def backward(ctx, g1, g2):
                return g1 * 2 + g2 * 3

        a, b = Two.apply(ns.ones(2, requires_grad=True))
        outs[ns.__name__] = (ns.ones(1).output_nr, a.output_nr, b.output_nr)
    assert outs["tapegrad"] == outs["torch"] == (0, 0, 1)


def test_requires_grad_in_place_returns_self():
    x = tg.ones(2)
    assert x.requires_grad_() is x and x.requires_grad
    assert x.requires_grad_(False) is x and not x.requires_grad


NEW_CALLS = [
    ("new_tensor", lambda t: t.new_tensor([1, 2])),
    ("new_tensor dtype", lambda t: t.new_tensor([1, 2], dtype=type(t.dtype) and t.dtype)),
    ("new_zeros", lambda t: t.new_zeros(2, 3)),
    ("new_zeros tuple", lambda t: t.new_zeros((2, 3))),
    ("new_ones", lambda t: t.new_ones(2)),
    ("new_full", lambda t: t.new_full((2,), 3)),
    ("new_empty", lambda t: t.new_empty(4)),
]


@pytest.mark.parametrize(("desc", "call"), NEW_CALLS, ids=[d for d, _ in NEW_CALLS])
@pytest.mark.parametrize("dtype", ["float64", "int64", "float16"])
def test_new_factories_take_this_tensors_dtype(desc, call, dtype):
    torch = _torch()
    y = call(tg.ones(1, dtype=getattr(tg, dtype), requires_grad=False))
    ty = call(torch.ones(1, dtype=getattr(torch, dtype)))
    assert tuple(y.shape) == tuple(ty.shape)
    assert str(y.dtype).split(".")[1] == str(ty.dtype).split(".")[1]
    assert not y.requires_grad
    if desc != "new_empty":
        np.testing.assert_array_equal(y.numpy(), ty.numpy())
    assert tg.ones(1).new_zeros(2, requires_grad=True).requires_grad


# ------------------------------------------------------------------ float16


def test_float16_training_step_matches_torch():
    torch = _torch()
    w = np.random.default_rng(0).standard_normal((3, 2))
    x = np.random.default_rng(1).standard_normal((4, 3))
    grads = []
    for ns in (tg, torch):
        tw = ns.tensor(w, dtype=ns.float16, requires_grad=True)
        tx = ns.tensor(x, dtype=ns.float16)
        loss = ((tx @ tw).relu() ** 2).mean()
        loss.backward()
        assert loss.dtype == ns.float16 and tw.grad.dtype == ns.float16
        grads.append(tw.grad.float().numpy() if ns is tg else tw.grad.float().numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=2e-2, atol=2e-3)


# ------------------------------------------------------------------ save and load


def _trained(seed: int):
    tg.manual_seed(seed)
    model = tg.nn.Linear(3, 2)
    opt = tg.optim.Adam(model.parameters(), lr=0.05)
    x = tg.randn(8, 3)
    return model, opt, x


def _step(model, opt, x):
    opt.zero_grad()
    loss = (model(x) ** 2).mean()
    loss.backward()
    opt.step()
    return loss.item()


def test_save_and_load_resume_training_exactly(tmp_path):
    model, opt, x = _trained(3)
    for _ in range(3):
        _step(model, opt, x)
    path = tmp_path / "checkpoint.pt"
    tg.save({"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 3}, path)
    assert path.exists() and not (tmp_path / "checkpoint.pt.npz").exists()
    expected = [_step(model, opt, x) for _ in range(3)]

    saved = tg.load(path)
    assert saved["epoch"] == 3
    again = tg.nn.Linear(3, 2)
    again.load_state_dict(saved["model"])
    again_opt = tg.optim.Adam(again.parameters(), lr=0.05)
    again_opt.load_state_dict(saved["optim"])
    assert [_step(again, again_opt, x) for _ in range(3)] == expected


def test_save_and_load_round_trip_structures(tmp_path):
    a = tg.tensor([1.0, 2.0], requires_grad=True)
    obj = {
        "t": a,
        "same": a,
        "ints": tg.arange(4),
        "half": tg.ones(2, dtype=tg.float16),
        "array": np.arange(3.0),
        "list": [1, 2.5, "x", None, True, (tg.zeros(1),)],
        7: {"nested": float("inf")},
    }
    buffer = io.BytesIO()
    tg.save(obj, buffer)
    buffer.seek(0)
    back = tg.load(buffer)
    assert list(back) == ["t", "same", "ints", "half", "array", "list", 7]
    assert back["t"] is back["same"] and back["t"].requires_grad and back["t"].is_leaf
    np.testing.assert_array_equal(back["t"].detach().numpy(), [1.0, 2.0])
    assert back["ints"].dtype == tg.int64 and back["half"].dtype == tg.float16
    assert isinstance(back["array"], np.ndarray)
    assert back["list"][:5] == [1, 2.5, "x", None, True]
    assert isinstance(back["list"][5], tuple) and back["list"][5][0].shape == (1,)
    assert back[7] == {"nested": float("inf")}
    single = tmp_path / "t.bin"
    tg.save(tg.arange(3), single)
    np.testing.assert_array_equal(tg.load(single, map_location="cpu").numpy(), [0, 1, 2])


def test_save_keeps_0d_and_non_contiguous_shapes(tmp_path):
    path = tmp_path / "shapes.pt"
    tg.save({"count": tg.tensor(7), "t": tg.arange(6.0).reshape(2, 3).t()}, path)
    back = tg.load(path)
    assert back["count"].shape == () and back["count"].item() == 7
    assert back["t"].shape == (3, 2)
    np.testing.assert_array_equal(back["t"].numpy(), np.arange(6.0).reshape(2, 3).T)


def test_save_never_pickles(tmp_path):
    with pytest.raises(TypeError, match="cannot store the object, a Linear.*state_dict"):
        tg.save(tg.nn.Linear(2, 1), tmp_path / "m.pt")
    with pytest.raises(TypeError, match=r"cannot store the object\['f'\], a function"):
        tg.save({"f": lambda: 0}, tmp_path / "m.pt")
    path = tmp_path / "ok.pt"
    tg.save({"w": tg.ones(2)}, path)
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            with z.open(name) as member:
                np.lib.format.read_array(member, allow_pickle=False)


def test_load_refuses_files_it_did_not_write(tmp_path):
    np.savez(tmp_path / "plain.npz", a=np.ones(2))
    with pytest.raises(RuntimeError, match="not a file written by tapegrad.save"):
        tg.load(tmp_path / "plain.npz")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(RuntimeError, match="not a file written by tapegrad.save"):
        tg.load(tmp_path / "text.pt")
    with pytest.raises(FileNotFoundError):
        tg.load(tmp_path / "missing.pt")
    with pytest.raises(RuntimeError, match="CPU only"):
        tg.load(tmp_path / "plain.npz", map_location="cuda")
