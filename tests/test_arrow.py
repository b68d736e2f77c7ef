"""genolewm.arrow builds the same arrays as pyarrow's own conversions, which the build avoids (they import pandas)."""

import numpy as np
import pyarrow as pa
import pytest

from genolewm.arrow import as_numpy, column


@pytest.mark.parametrize(
    "values, type_",
    [
        (["ACGT" * 3000, None, "", "NNNN" * 3000], pa.large_string()),
        (["chr1", "séquence_ü", None, "", "x"], pa.string()),
        ([], pa.string()),
        ([3, None, -7], pa.int64()),
        ([0.5, None], pa.float64()),
        ([["Pathogenic", "risk"], None, [], ["é"]], pa.list_(pa.string())),
    ],
)
def test_column_matches_pyarrow(values, type_):
    got = column(values, type_)
    got.validate(full=True)
    assert got.equals(pa.array(values, type_))


def test_as_numpy_fills_nulls():
    array = pa.array([1, None, 3], pa.int32()).slice(1)
    assert as_numpy(array, fill=-1).tolist() == [-1, 3]
    assert as_numpy(pa.array([True, False, True])).dtype == np.bool_
