"""DynamicViT's training loops under torchrun: 2 gloo processes on CPU = 1 process with the same global batch.

This file is also the worker script: ``dist.launch`` runs it in 2 processes (torchrun ``--standalone``,
localhost rendezvous, gloo on the loopback interface). Each rank computes on its half of the same global
batches; rank 0 saves the results, which must equal a single-process run up to rounding (float32 <= 1e-4,
float64 <= 1e-10: BatchNorm buffers and Adam at the profile's lrs, see the test):

- float32 (the experiment's dtype): the three fine-tunes from one untrained teacher;
- float64: teacher training, then the three fine-tunes from that teacher. Teacher training is compared in
  float64 because in float32 AdamW turns the rounding noise of the attention KEY biases (whose exact
  gradient is 0: softmax is shift-invariant) into updates of ~lr * noise / eps ~ 1e-6 in either run.

Negative controls (float64, dynamic variant) show the comparison can fail: without the Gumbel row
alignment (``GumbelRows``), without the token-loss weighting (``ShardedDistillLoss``) or with each rank's conv stem
normalising by its own shard's BatchNorm statistics (no ``global_batchnorm``).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
import torch

from livepapers.core import dist
from livepapers.dynamicvit import experiment as E
from livepapers.dynamicvit import training as T  # the loops' module: the controls patch its names
from livepapers.dynamicvit.data import DigitBatch

TEACHER_STEPS, FINETUNE_STEPS, SEED = 2, 3, 3
LOOPBACK = {"GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}


def tiny_config() -> E.Config:
    """The smoke profile with a smaller ViT and batches (global teacher batch 16, fine-tune batch 8)."""
    smoke = E.PROFILES["smoke"]
    cfg = getattr(smoke, "config", smoke)
    model = dataclasses.replace(cfg.model, embed_dim=32, depth=4, num_heads=2, pruning_loc=(1, 2, 3))
    return dataclasses.replace(cfg, model=model, teacher_batch=16, finetune_batch=8, diag_last_steps=2)


class _Float64Images:
    """The training stream with float64 images (for float64 runs of the unchanged loops)."""

    def __init__(self, base) -> None:
        self.base = base

    def sample(self, batch: int, generator: torch.Generator) -> DigitBatch:
        b = self.base.sample(batch, generator)
        return DigitBatch(b.images.double(), b.labels, b.ink)


def run_loops(dtype: torch.dtype, variants: tuple[str, ...] = E.VARIANTS) -> dict[str, torch.Tensor]:
    """Fine-tunes (float32: from the untrained teacher; float64: after teacher training) as flat tensors."""
    cfg = tiny_config()
    train_set, _ = E.make_datasets(cfg.task)
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        if dtype == torch.float64:
            train_set = _Float64Images(train_set)
            teacher = E.train_teacher(cfg, TEACHER_STEPS, None, train_set)
        else:
            teacher = E.make_teacher(cfg).eval()
        out = {f"teacher/{k}": v.detach().clone() for k, v in teacher.state_dict().items()}
        for variant in variants:
            res = E.finetune(cfg, variant, teacher, FINETUNE_STEPS, SEED, train_set, None)
            out.update({f"{variant}/{k}": v.detach().clone() for k, v in res.model.state_dict().items()})
            stats = [*res.keep_frac, res.ratio_loss, res.last_loss]
            out[f"{variant}/stats"] = torch.tensor(stats, dtype=torch.float64)
    finally:
        torch.set_default_dtype(default)
    return out


def max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], prefix: str) -> float:
    keys = [k for k in b if k.startswith(prefix)]
    assert keys and set(keys) <= set(a)
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in keys)


class _NoAlignment:
    """Stand-in for ``GumbelRows``: every rank draws its own (b, N, 2) noise."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def finish(self) -> None:
        pass

    def close(self) -> None:
        pass


def _worker(out: Path) -> None:
    torch.set_num_threads(1)
    assert dist.init_from_env().world_size == 2
    got = {"f32": run_loops(torch.float32), "f64": run_loops(torch.float64)}
    flat = torch.cat([v.double().reshape(-1) for r in got.values() for v in r.values()])
    got["spread"] = {"max": (flat - dist.all_reduce_mean(flat)).abs().max()}  # 0 when the ranks agree
    gumbel_rows, sharded_loss = T.GumbelRows, T.ShardedDistillLoss
    T.GumbelRows = _NoAlignment
    got["no_gumbel_rows"] = run_loops(torch.float64, ("dynamic",))
    T.GumbelRows, T.ShardedDistillLoss = gumbel_rows, T.DistillDiffPruningLoss
    got["no_token_weighting"] = run_loops(torch.float64, ("dynamic",))
    T.ShardedDistillLoss = sharded_loss
    global_bn = T.global_batchnorm
    T.global_batchnorm = lambda model: model
    got["no_global_bn"] = run_loops(torch.float64, ("dynamic",))
    T.global_batchnorm = global_bn
    if dist.is_main():
        torch.save(got, out / "ranks.pt")
    dist.cleanup()


@pytest.mark.timeout(120)
def test_two_gloo_processes_equal_one_process(tmp_path, monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)
    code = dist.launch([str(tmp_path)], nproc=2, target=(str(Path(__file__).resolve()),), env=LOOPBACK,
                       timeout=110)
    assert code == 0
    assert [p.name for p in tmp_path.iterdir()] == ["ranks.pt"]  # rank 1 wrote nothing
    got = torch.load(tmp_path / "ranks.pt", weights_only=True)
    assert float(got["spread"]["max"]) == 0.0  # both ranks hold the same parameters

    diffs, controls = {}, {}
    for name, dtype in (("f32", torch.float32), ("f64", torch.float64)):
        want = run_loops(dtype)  # one process, the whole global batch
        keep = want["dynamic/stats"][:3]
        assert 0.0 < float(keep.min()) and float(keep.max()) < 1.0  # the Gumbel decisions are not trivial
        for prefix in ("teacher/", *(f"{v}/" for v in E.VARIANTS)):
            diffs[f"{name} {prefix}"] = max_diff(got[name], want, prefix)
        if name == "f64":
            controls = {c: max_diff(got[c], want, "dynamic/") for c in ("no_gumbel_rows", "no_token_weighting")}
            controls["no_global_bn"] = max_diff(got["no_global_bn"], want, "teacher/")
    print("max |2 ranks - 1 process|:", {k: f"{v:.3g}" for k, v in diffs.items()})
    print("controls:", {k: f"{v:.3g}" for k, v in controls.items()})
    # rounding only: the conv stem's BatchNorm buffers (running_var ~ 1-100) carry the float32 / float64 rounding of
    # the summation order (sum of shard sums vs one sum), and Adam at the profile's lrs (1e-2, 3e-3) amplifies
    # rounding in near-zero gradients; the negative controls below are >= 50x larger
    tol = {"f32": 1e-4, "f64": 1e-10}
    assert all(d <= tol[k.split()[0]] for k, d in diffs.items()), diffs
    assert diffs["f32 teacher/"] == 0.0 and diffs["f64 teacher/"] <= 1e-10
    assert controls["no_gumbel_rows"] > 1e-4, controls
    assert controls["no_token_weighting"] > 1e3 * diffs["f64 dynamic/"], controls
    assert controls["no_global_bn"] > 1e-4, controls


if __name__ == "__main__":  # the torchrun worker
    _worker(Path(sys.argv[1]))
