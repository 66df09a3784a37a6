"""Bad input gets a one-line ValueError naming the argument and the shape received."""

import pytest
import torch

from livepapers.nnphd import (
    DampedDoublePendulum,
    LagrangianNN,
    MLPDynamics,
    NNPhD,
    UniversalApproximatorNet,
    fit,
    rk4_rollout,
)

F64 = torch.float64


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    lnn = LagrangianNN(dim=2, hidden=(8,))
    uan = UniversalApproximatorNet(dim=2, hidden=(8,))
    return {
        "lnn.acceleration": lnn.acceleration,
        "lnn.lagrangian": lnn.lagrangian,
        "lnn.energy": lnn.energy,
        "uan": uan,
        "nnphd": NNPhD(dim=2, lnn=lnn, uan=uan),
        "mlp": MLPDynamics(dim=2, hidden=(8,)),
    }


GOOD = torch.zeros(4, 2, dtype=F64)
BAD = [
    ("q", torch.zeros(2, dtype=F64), GOOD, r"q must be a tensor of shape \(batch, 2\), got \(2,\)"),
    ("q", torch.zeros(4, 3, dtype=F64), GOOD, r"q must be .*got \(4, 3\)"),
    ("qdot", GOOD, torch.zeros(4, 2, 1, dtype=F64), r"qdot must be .*got \(4, 2, 1\)"),
    ("mismatch", GOOD, torch.zeros(5, 2, dtype=F64), r"q and qdot must have the same shape, got q \(4, 2\) and "
     r"qdot \(5, 2\)"),
    ("nan", GOOD, torch.tensor([[0.0, float("nan")]] * 4, dtype=F64), r"qdot of shape \(4, 2\) contains non-finite"),
    ("inf", torch.full((4, 2), float("inf"), dtype=F64), GOOD, r"q of shape \(4, 2\) contains non-finite"),
    ("list", [[0.0, 0.0]], GOOD, r"q must be a tensor of shape \(batch, 2\), got list"),
]


@pytest.mark.parametrize("name", ["lnn.acceleration", "lnn.lagrangian", "lnn.energy", "uan", "nnphd", "mlp"])
@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_states_raise_naming_argument_and_shape(models, name, case):
    _, q, qdot, msg = case
    with pytest.raises(ValueError, match=msg):
        models[name](q, qdot)


def test_bad_targets_and_times(models):
    model = models["nnphd"]
    with pytest.raises(ValueError, match=r"a_true must have the shape of q \(4, 2\), got \(4, 3\)"):
        model.loss(GOOD, GOOD, torch.zeros(4, 3, dtype=F64))
    with pytest.raises(ValueError, match=r"a_true of shape \(4, 2\) contains non-finite"):
        model.loss(GOOD, GOOD, torch.full((4, 2), float("nan"), dtype=F64))
    with pytest.raises(ValueError, match=r"t must be a scalar or have 4 entries, got \(3,\)"):
        model(GOOD, GOOD, torch.zeros(3, dtype=F64))
    timed = UniversalApproximatorNet(dim=2, hidden=(8,), time_input=True)
    with pytest.raises(ValueError, match="t is required"):
        timed(GOOD, GOOD)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="norm"):
        NNPhD(dim=2, norm="mse")
    with pytest.raises(ValueError, match="lam"):
        NNPhD(dim=2, lam=-1.0)
    with pytest.raises(ValueError, match=r"lnn\.dim"):
        NNPhD(dim=3, lnn=LagrangianNN(dim=2, hidden=(4,)))
    with pytest.raises(ValueError, match="angle_embedding"):
        LagrangianNN(dim=2, angle_embedding="mod2pi")
    with pytest.raises(ValueError, match="hidden"):
        UniversalApproximatorNet(dim=2, hidden=())
    with pytest.raises(ValueError, match="init"):
        LagrangianNN(dim=2, init="xavier")
    with pytest.raises(ValueError, match="backend"):
        LagrangianNN(dim=2, hidden=(4,)).acceleration(GOOD, GOOD, backend="jax")
    with pytest.raises(ValueError, match="friction"):
        DampedDoublePendulum(friction="viscous")


def test_bad_fit_and_rollout_arguments():
    model = MLPDynamics(dim=2, hidden=(4,))
    with pytest.raises(ValueError, match=r"missing 'a'"):
        fit(model, {"q": GOOD, "qdot": GOOD}, 1)
    with pytest.raises(ValueError, match=r"share a non-empty shape"):
        fit(model, {"q": GOOD, "qdot": GOOD, "a": torch.zeros(3, 2, dtype=F64)}, 1)
    with pytest.raises(ValueError, match="schedule"):
        fit(model, {"q": GOOD, "qdot": GOOD, "a": GOOD}, 1, schedule="step")
    with pytest.raises(ValueError, match=r"q0 and qdot0 .* got \(4, 2\) and \(4, 3\)"):
        rk4_rollout(lambda q, v, t: q, GOOD, torch.zeros(4, 3, dtype=F64), 0.1, 2)
    with pytest.raises(ValueError, match="dt"):
        rk4_rollout(lambda q, v, t: q, GOOD, GOOD, 0.0, 2)
