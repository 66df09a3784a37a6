"""Compiled inference (issue 15): straight-line C (64-bit words and 256-bit GCC vectors) and the generic kernel equal
the PyTorch eval path exactly, for awkward batch sizes and for nets that use every one of the 16 gates; the word width
is chosen from the CPU; compiled.py depends on logic.py, never the other way round."""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from livepapers.diff_algorithms import compiled
from livepapers.diff_algorithms.bits import pack_bits
from livepapers.diff_algorithms.compiled import CompiledLogicNet, pick_word_bits, straight_line_source
from livepapers.diff_algorithms.logic import GroupSum, LogicLayer

BATCHES = (1, 63, 65, 255, 257, 1000)
TAU = 3.0


def _all_gates_net(widths: tuple[int, ...], n_classes: int, seed: int = 0) -> nn.Sequential:
    """A random net whose every layer uses each of the 16 gates (argmax weights forced round-robin, then shuffled)."""
    g = torch.Generator().manual_seed(seed)
    layers = [LogicLayer(i, o, seed=seed + k, connections="random")
              for k, (i, o) in enumerate(itertools.pairwise(widths))]
    with torch.no_grad():
        for lay in layers:
            gates = torch.arange(lay.out_dim) % 16
            gates = gates[torch.randperm(lay.out_dim, generator=g)]
            lay.weights.copy_(torch.randn(lay.out_dim, 16, generator=g))
            lay.weights[torch.arange(lay.out_dim), gates] = 10.0
    model = nn.Sequential(*layers, GroupSum(n_classes, tau=TAU)).eval()
    for lay in layers:
        assert set(lay.gate_ids().tolist()) == set(range(16))
    return model


def _reference(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return torch.round(model(torch.from_numpy(x.astype(np.float32))) * TAU).to(torch.int32).numpy()


# widths: a deep net, a one-layer net, and one whose class groups need 10 bit planes (group of 512 gates)
NETS = {"deep": ((40, 96, 64, 80, 48), 4), "one_layer": ((33, 48), 3), "wide_groups": ((40, 200, 1024), 2)}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("net_name", sorted(NETS))
@pytest.mark.parametrize(("kernel", "bits"), [("straight", 64), ("straight", 256), ("generic", 64)])
def test_compiled_equals_eval_exactly_all_gates(net_name, kernel, bits, tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEPAPERS_CACHE", str(tmp_path))
    widths, n_classes = NETS[net_name]
    model = _all_gates_net(widths, n_classes)
    x = np.random.default_rng(1).random((max(BATCHES), widths[0])) > 0.5
    ref = _reference(model, x)
    net = CompiledLogicNet(model, kernel=kernel, num_bits=bits).compile(opt_level=1)
    assert net.backend == "c" and net.word_bits == bits
    for batch in BATCHES:
        out = net(x[:batch])
        assert out.dtype == np.int32 and out.shape == (batch, n_classes)
        np.testing.assert_array_equal(out, ref[:batch], err_msg=f"{kernel}/{bits} bits, batch {batch}")
    # packed inputs with more words than samples need (the extra words are ignored)
    packed = np.concatenate([pack_bits(x[:65]), np.full((widths[0], 3), ~np.uint64(0))], axis=1)
    np.testing.assert_array_equal(net.forward_packed(packed, 65), ref[:65])


def test_each_gate_alone_in_the_straight_line_code(tmp_path, monkeypatch):
    # one gate per net, every input combination: the C expression is the gate's truth table (and the test fails
    # if two gate ids are swapped in GATE_C)
    monkeypatch.setenv("LIVEPAPERS_CACHE", str(tmp_path))
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=bool)
    for gate in range(16):
        lay = LogicLayer(2, 1, seed=0, connections="random")
        with torch.no_grad():
            lay.a_idx.copy_(torch.tensor([0]))
            lay.b_idx.copy_(torch.tensor([1]))
            lay.weights.zero_()
            lay.weights[0, gate] = 1.0
        model = nn.Sequential(lay, GroupSum(1, tau=1.0)).eval()
        truth = np.array([[(gate >> (3 - r)) & 1] for r in range(4)], dtype=np.int32)
        for bits in (64, 256):
            out = CompiledLogicNet(model, num_bits=bits).compile(opt_level=0)(x)
            np.testing.assert_array_equal(out, truth, err_msg=f"gate {gate}, {bits} bits")


def test_straight_line_code_is_one_statement_per_gate():
    model = _all_gates_net((40, 96, 64, 80, 48), 4)
    net = CompiledLogicNet(model, num_bits=64)
    src = straight_line_source(net.in_dim, net.layers, net.n_classes, word_bits=64, chunk=50)
    hidden = sum(len(ops) for _, _, ops in net.layers[:-1])
    assert len(re.findall(r"^    o\[\d+\] = ", src, flags=re.M)) == hidden
    last = re.findall(r"^    W t\d+ = [^;]*;$", src, flags=re.M)  # one statement: a gate (adders write several)
    assert len(last) == len(net.layers[-1][2])  # the last layer's gates feed the adders directly
    assert len(re.findall(r"^static void f\d+\(", src, flags=re.M)) == sum(-(-len(o) // 50) for _, _, o in
                                                                        net.layers[:-1])
    assert "vector_size(32)" in straight_line_source(net.in_dim, net.layers, net.n_classes, word_bits=256)
    assert "__m256" not in src and "immintrin" not in src  # no intrinsics
    with pytest.raises(ValueError, match="word_bits"):
        straight_line_source(net.in_dim, net.layers, net.n_classes, word_bits=128)


def test_word_width_follows_the_cpu():
    assert pick_word_bits(None) == 64
    assert pick_word_bits("#define __SSE2__ 1\n#define __x86_64__ 1\n") == 64
    assert pick_word_bits("#define __SSE2__ 1\n#define __AVX2__ 1\n") == 256
    assert pick_word_bits("#define __ARM_NEON 1\n") == 256
    with pytest.raises(ValueError, match="num_bits"):
        CompiledLogicNet(_all_gates_net((33, 48), 3), num_bits=128)
    with pytest.raises(ValueError, match="straight-line"):
        CompiledLogicNet(_all_gates_net((33, 48), 3), num_bits=256, kernel="generic")


def test_auto_word_width_on_this_machine(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEPAPERS_CACHE", str(tmp_path))
    model = _all_gates_net((33, 48), 3)
    net = CompiledLogicNet(model).compile(opt_level=0)
    macros = compiled.native_macros(compiled.shutil.which("gcc"))
    assert net.word_bits == pick_word_bits(macros)
    x = np.random.default_rng(0).random((300, 33)) > 0.5
    np.testing.assert_array_equal(net(x), _reference(model, x))


def test_failed_native_query_falls_back_to_64_bit_words(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEPAPERS_CACHE", str(tmp_path))
    monkeypatch.setattr(compiled, "_NATIVE", {})
    real = compiled.subprocess.run

    def no_march_native(cmd, *args, **kwargs):
        if "-march=native" in cmd:
            return compiled.subprocess.CompletedProcess(cmd, 1, "", "error: unrecognized -march=native")
        return real(cmd, *args, **kwargs)

    monkeypatch.setattr(compiled.subprocess, "run", no_march_native)
    model = _all_gates_net((33, 48), 3)
    net = CompiledLogicNet(model).compile(opt_level=0)
    assert net.backend == "c" and net.word_bits == 64
    x = np.random.default_rng(0).random((70, 33)) > 0.5
    np.testing.assert_array_equal(net(x), _reference(model, x))


def test_compiled_depends_on_logic_not_the_reverse():
    pkg = Path(compiled.__file__).parent

    def imports(name: str) -> set[str]:
        tree = ast.parse((pkg / f"{name}.py").read_text(encoding="utf-8"))
        return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}

    assert "logic" in imports("compiled")
    assert "compiled" not in imports("logic") and "compiled" not in imports("bits")
