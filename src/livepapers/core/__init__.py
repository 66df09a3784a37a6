"""What every paper shares: claims and verdicts, the registry, runs, reports, sweeps and benchmarks."""

from livepapers.core.claims import AllOf, AnyOf, Band, Claim, Order, Ratio, Slope, Verdict, evaluate
from livepapers.core.registry import PaperInfo
from livepapers.core.runs import Diverged, RunContext

__all__ = ["AllOf", "AnyOf", "Band", "Claim", "Diverged", "Order", "PaperInfo", "Ratio", "RunContext", "Slope",
           "Verdict", "evaluate"]
