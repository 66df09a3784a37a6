"""livepapers.core.dist: single-process no-ops, the torchrun command, and 2 gloo processes = 1 process.

The two-process test launches this file as the worker script through ``dist.launch`` (torchrun
``--standalone``: a rendezvous on a free localhost port; gloo is pinned to the loopback interface).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from livepapers.core import dist

GLOBAL_BATCH, STEPS = 8, 3
LOOPBACK = {"GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))


def train_small(use_ddp: bool) -> dict[str, torch.Tensor]:
    """A few AdamW steps on a fresh global batch per step; each rank computes on its shard."""
    model = _model()
    net = dist.wrap_ddp(model) if use_ddp else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
    g = torch.Generator().manual_seed(1)
    for _ in range(STEPS):
        x = torch.randn(GLOBAL_BATCH, 6, generator=g)  # the same global batch on every rank
        y = torch.randint(0, 3, (GLOBAL_BATCH,), generator=g)
        loss = F.cross_entropy(net(dist.shard(x)), dist.shard(y))  # a mean over this rank's shard
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if not use_ddp:
            dist.all_reduce_grads(model)
        opt.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _worker(out: Path) -> None:
    """Run by torchrun in each of 2 processes."""
    torch.set_num_threads(1)
    info = dist.init_from_env()
    assert (info.world_size, dist.world_size(), dist.rank()) == (2, 2, info.rank)
    assert info.device == torch.device("cpu") and info.is_main == (info.rank == 0) == dist.is_main()
    assert dist.is_distributed() and dist.init_from_env() == info  # a second call reuses the group
    # reductions and sharding
    assert dist.all_reduce_metrics({"r": float(info.rank), "one": 1.0}) == {"r": 0.5, "one": 1.0}
    assert dist.all_reduce_mean(float(info.rank)) == 0.5
    t = torch.tensor([1.0, 2.0]) * (info.rank + 1)
    assert torch.equal(dist.all_reduce_sum(t), torch.tensor([3.0, 6.0])) and t[0] == info.rank + 1
    assert torch.equal(dist.all_reduce_mean(t), torch.tensor([1.5, 3.0]))
    assert list(dist.shard(range(8))) == ([0, 1, 2, 3] if info.rank == 0 else [4, 5, 6, 7])
    try:
        dist.shard(torch.zeros(3))
        raise AssertionError("an odd batch must not shard over 2 ranks")
    except ValueError as e:
        assert "divisible" in str(e)
    assert dist.broadcast_object({"steps": 10 + info.rank}) == {"steps": 10}
    s = dist.sampler(list(range(10)), shuffle=True, seed=0)
    assert isinstance(s, torch.utils.data.DistributedSampler) and len(list(s)) == 5
    mine = torch.zeros(10)
    mine[list(s)] = 1.0
    assert torch.equal(dist.all_reduce_sum(mine), torch.ones(10))  # the ranks' parts cover the data once
    # training: explicit gradient all-reduce and DDP
    results = {"grads": train_small(use_ddp=False), "ddp": train_small(use_ddp=True)}
    for name, params in results.items():  # every rank holds the same parameters
        flat = torch.cat([p.reshape(-1) for p in params.values()])
        spread = float((flat - dist.all_reduce_mean(flat)).abs().max())
        assert spread == 0.0, (name, spread)

    # writes: guarded by main_only and by is_main; rank 1 must write nothing
    @dist.main_only
    def write(path: Path) -> str:
        path.write_text(f"rank {dist.rank()}")
        return "written"

    assert write(out / f"main_only-rank{info.rank}.txt") == ("written" if info.is_main else None)
    if dist.is_main():
        torch.save(results, out / "params.pt")
        (out / f"is_main-rank{info.rank}.txt").write_text("ok")
    dist.barrier()
    dist.cleanup()
    assert not dist.is_distributed()


@pytest.fixture
def no_torchrun_env(monkeypatch):
    for key in TORCHRUN_ENV:
        monkeypatch.delenv(key, raising=False)


def test_single_process_is_a_no_op(no_torchrun_env):
    info = dist.init_from_env()
    assert (info.rank, info.world_size, info.local_rank, info.is_main) == (0, 1, 0, True)
    assert not torch.distributed.is_initialized() and not dist.is_distributed()
    assert (dist.rank(), dist.world_size(), dist.local_rank(), dist.is_main()) == (0, 1, 0, True)
    x = torch.arange(6.0)
    assert dist.shard(x) is x and dist.shard([1, 2, 3]) == [1, 2, 3]
    assert dist.all_reduce_mean(x) is x and dist.all_reduce_sum(2.5) == 2.5
    assert dist.all_reduce_metrics({"a": 1, "b": 2.5}) == {"a": 1.0, "b": 2.5}
    assert dist.sampler(list(range(4))) is None and dist.broadcast_object((3, 4)) == (3, 4)
    model = _model()
    assert dist.wrap_ddp(model) is model and dist.unwrap(model) is model
    model(torch.ones(2, 6)).sum().backward()
    before = [p.grad.clone() for p in model.parameters()]
    dist.all_reduce_grads(model)
    assert all(torch.equal(a, p.grad) for a, p in zip(before, model.parameters()))
    assert dist.main_only(lambda v: v + 1)(1) == 2
    dist.barrier()
    dist.cleanup()


def test_bad_environment_is_a_clear_error(no_torchrun_env, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(ValueError, match=r"RANK must be in \[0, 2\)"):
        dist.init_from_env()
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(ValueError, match="MASTER_ADDR and MASTER_PORT"):
        dist.init_from_env()
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE='two'"):
        dist.init_from_env()


def test_torchrun_command():
    head = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node"]
    argv = ["reproduce", "mega", "--profile", "smoke"]
    assert dist.torchrun_command(argv, nproc=2) == [*head, "2", "--standalone", "-m", "livepapers.cli", *argv]
    multi = dist.torchrun_command(argv, nproc=4, nnodes=2, rdzv_endpoint="node0:29400")
    assert multi == [*head, "4", "--nnodes", "2", "--rdzv-backend", "c10d", "--rdzv-endpoint", "node0:29400",
                     "-m", "livepapers.cli", *argv]
    one_node = dist.torchrun_command([], nproc=1, rdzv_endpoint="[::1]:29400", target=("train.py",))
    assert one_node == [*head, "1", "--nnodes", "1", "--rdzv-backend", "c10d", "--rdzv-endpoint", "[::1]:29400",
                        "train.py"]
    with pytest.raises(ValueError, match="--nnodes 2 needs --rdzv-endpoint"):
        dist.torchrun_command(argv, nproc=2, nnodes=2)
    with pytest.raises(ValueError, match="--nproc must be >= 1, got 0"):
        dist.torchrun_command(argv, nproc=0)
    with pytest.raises(ValueError, match="HOST:PORT"):
        dist.torchrun_command(argv, nproc=2, nnodes=2, rdzv_endpoint="node0")


@pytest.mark.timeout(120)
def test_two_gloo_processes_equal_one_process_and_only_rank0_writes(tmp_path, no_torchrun_env):
    code = dist.launch([str(tmp_path)], nproc=2, target=(str(Path(__file__).resolve()),), env=LOOPBACK,
                       timeout=110)
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["is_main-rank0.txt", "main_only-rank0.txt", "params.pt"]
    got = torch.load(tmp_path / "params.pt", weights_only=True)
    torch.set_num_threads(1)
    want = train_small(use_ddp=False)  # one process, the whole global batch
    moved = max(float((want[k] - _model().state_dict()[k]).abs().max()) for k in want)
    assert moved > 1e-3  # training did change the parameters (the comparison is not vacuous)
    for name in ("grads", "ddp"):
        diff = max(float((got[name][k] - want[k]).abs().max()) for k in want)
        print(f"{name}: max |2 ranks - 1 process| = {diff:.3g}")
        assert diff <= 1e-6, (name, diff)


if __name__ == "__main__":  # the torchrun worker
    _worker(Path(sys.argv[1]))


@pytest.mark.timeout(240)
def test_reproduce_with_nproc_2_writes_one_run_folder_from_rank_0(tmp_path):
    # the CLI re-launches itself through torch.distributed.run; DynamicViT's smoke trains data-parallel on 2 ranks
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp"), "OMP_NUM_THREADS": "1", "LIVEPAPERS_QUIET": "1"}
    (tmp_path / "tmp").mkdir()
    out = tmp_path / "runs"
    proc = subprocess.run([sys.executable, "-m", "livepapers.cli", "reproduce", "dynamicvit", "--profile", "smoke",
                           "--nproc", "2", "--out", str(out), "--no-site", "--quiet"], env=env, capture_output=True,
                          text=True, timeout=220)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (folder,) = list((out / "dynamicvit").iterdir())  # one folder: rank 1 wrote none
    assert json.loads((folder / "status.json").read_text())["status"] == "complete"
    assert not list((tmp_path / "tmp").glob("livepapers-rank*"))  # rank 1's temporary folder is gone
    assert "launching 2 processes per node" in proc.stderr
