"""livepapers: machine-learning papers as importable modules, each with a claim-by-claim reproduction.

``livepapers list`` shows the papers; ``livepapers reproduce <slug>`` re-runs one's headline claims.
"""

__version__ = "0.1.0"
