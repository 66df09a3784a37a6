"""Bad input gives one clear ValueError naming the column or rows concerned."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from livepapers.potential_outcomes import (
    AIPW,
    IPW,
    DifferenceInMeans,
    PropensityModel,
    PSMatching,
    RegressionAdjustment,
    balance_table,
    split_frame,
    trim,
)


def _frame():
    return pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "w": [0, 1, 0, 1], "age": [20.0, 30.0, 40.0, 50.0]})


def test_non_binary_treatment_names_rows():
    with pytest.raises(ValueError, match=r"binary 0/1; rows \[2\] hold \[2.0\]"):
        DifferenceInMeans().fit([1.0, 2.0, 3.0], [0, 1, 2])
    with pytest.raises(ValueError, match="both treated"):
        DifferenceInMeans().fit([1.0, 2.0], [1, 1])


def test_missing_values_name_column_and_rows():
    df = _frame()
    df.loc[2, "age"] = np.nan
    with pytest.raises(ValueError, match=r"column 'age' of X has missing or non-finite values in rows \[2\]"):
        RegressionAdjustment(method="ancova").fit(df["y"], df["w"], df[["age"]])
    with pytest.raises(ValueError, match=r"outcome has missing .* rows \[1\]"):
        DifferenceInMeans().fit([1.0, np.nan, 3.0, 4.0], [0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"treatment has missing"):
        DifferenceInMeans().fit([1.0, 2.0, 3.0, 4.0], [0, 1, np.nan, 1])


def test_propensity_of_zero_or_one_is_an_error_naming_rows():
    y, t = [1.0, 2.0, 3.0, 4.0], [0, 1, 0, 1]
    with pytest.raises(ValueError, match=r"strictly between 0 and 1 .* rows \[0, 3\]"):
        IPW(n_boot=0).fit(y, t, e=[0.0, 0.5, 0.5, 1.0])
    with pytest.raises(ValueError, match=r"rows \[1\]"):
        AIPW().fit(y, t, e=[0.5, 1.0, 0.5, 0.5], mu0=np.zeros(4), mu1=np.zeros(4))
    with pytest.raises(ValueError, match="strictly between"):
        trim([0.2, 0.0], rule=0.1)


def test_missing_column_is_named():
    with pytest.raises(ValueError, match=r"column 'educ' not in data \(available: y, w, age\)"):
        split_frame(_frame(), outcome="y", treatment="w", covariates=["age", "educ"])
    y, _t, x = split_frame(_frame(), outcome="y", treatment="w", covariates=["age"])
    assert list(x.columns) == ["age"] and y.sum() == 10


def test_shapes_and_types():
    with pytest.raises(ValueError, match="X has 3 rows but the outcome/treatment has 4"):
        RegressionAdjustment(method="lin").fit([1.0, 2, 3, 4], [0, 1, 0, 1], np.zeros((3, 1)))
    with pytest.raises(ValueError, match="column 'g' of X is not numeric"):
        balance_table(pd.DataFrame({"g": ["a", "b", "a", "b"]}), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="method must be"):
        RegressionAdjustment(method="ols")
    with pytest.raises(ValueError, match="variance must be"):
        PSMatching(variance="both")
    with pytest.raises(ValueError, match="not fitted"):
        PropensityModel().predict(np.zeros((2, 1)))


def test_outcome_nuisances_and_fitted_columns_are_checked():
    y, t = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0, 1, 0, 1.0])
    with pytest.raises(ValueError, match="outcome is required"):
        DifferenceInMeans().fit(None, t)
    with pytest.raises(ValueError, match="mu0 has 3 rows but treatment has 4"):
        AIPW().fit(y, t, e=np.full(4, 0.5), mu0=np.zeros(3), mu1=np.zeros(4))
    x = pd.DataFrame({"a": [0.1, 0.5, 0.2, 0.9], "b": [1.0, 0.0, 0.0, 1.0]})
    pm = PropensityModel().fit(t, x.assign(a=[0.1, 0.5, 0.6, 0.2]))
    with pytest.raises(ValueError, match="X has 1 columns, the propensity model was fitted with 2"):
        pm.predict(x[["a"]])
    with pytest.raises(ValueError, match="weights of the control arm are all zero"):
        balance_table(x, t, weights=np.array([0, 1, 0, 1.0]))
