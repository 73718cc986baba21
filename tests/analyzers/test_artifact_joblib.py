"""joblib files: array records are sized exactly as joblib.load reads them, or refused.

joblib writes raw array bytes into the middle of a pickle. A walk that steps over a
different number of bytes than the loader reads would resynchronise somewhere else, which
is how a payload could hide; each case here checks one way the sizes could disagree.
"""

from __future__ import annotations

import io

import joblib
import numpy as np
from model_corpus import _joblib_record, _u

from modelcert.analyzers.artifact.pickle_check import check_pickle


def _scan(data: bytes) -> list[tuple[str, str]]:
    return [(f.rule, f.severity) for f in check_pickle(io.BytesIO(data), len(data), "m.joblib")]


def test_honest_record_is_sized_and_loads() -> None:
    data = _joblib_record(bytes(range(8)), n=8)
    assert list(joblib.load(io.BytesIO(data))) == list(range(8))
    assert _scan(data) == [("pickle/format", "medium")]


def test_dtype_state_that_disagrees_with_its_type_string_is_refused() -> None:
    # 'u1' is one byte per element; a pickled element size of 4 would make a naive walk skip 4x
    data = _joblib_record(bytes(8), n=8, elsize=4)
    assert ("pickle/malformed", "high") in _scan(data)


def test_flexible_dtypes_are_sized_from_the_state_as_numpy_does() -> None:
    # numpy takes a string/void type's element size from the pickled state, not the type
    # string (numpy 1.x pickled '<U2' as 'U8' + 8 bytes): 'S3' with a state size of 5 is 5
    data = _joblib_record(b"abcdeFGHIJ", n=2, descr="S3", elsize=5)
    assert list(joblib.load(io.BytesIO(data))) == [b"abcde", b"FGHIJ"]
    assert _scan(data) == [("pickle/format", "medium")]


def test_record_longer_than_the_file_is_refused() -> None:
    data = _joblib_record(b"", n=1 << 20)[:-1]
    assert ("pickle/malformed", "high") in _scan(data)


def test_wrapper_built_by_its_constructor_reads_alignment_padding() -> None:
    """NumpyArrayWrapper(subclass, shape, order, dtype) defaults to 16-byte alignment, so the
    loader reads a padding byte first; the walk must too, or it desynchronises."""
    dtype = b"cnumpy\ndtype\n" + _u("u1") + b"\x89\x88\x87R"
    head = (b"\x80\x02cjoblib.numpy_pickle\nNumpyArrayWrapper\n(cnumpy\nndarray\nK\x04\x85" + _u("C")
            + dtype + b"tR}b")
    pad = 16 - (len(head) + 1) % 16
    data = head + bytes([pad]) + b"\xff" * pad + b"\x01\x02\x03\x04."
    assert list(joblib.load(io.BytesIO(data))) == [1, 2, 3, 4]
    assert _scan(data) == [("pickle/format", "medium")]


def test_real_joblib_dumps_pass_and_object_arrays_are_walked() -> None:
    buf = io.BytesIO()
    obj = np.empty(2, dtype=object)
    obj[0], obj[1] = "a", np.arange(3)
    joblib.dump({"f": np.asfortranarray(np.ones((3, 5))), "o": obj, "s": np.array(["xy"]),
                 "r": np.zeros(2, dtype=[("a", "<i2"), ("b", "<f4", (3,))])}, buf)
    assert _scan(buf.getvalue()) == [("pickle/format", "medium")]


def test_many_pickles_back_to_back_stop_at_the_limit() -> None:
    data = b"\x80\x02K\x01." * 65 + b"cos\nsystem\n(S'x'\ntR."
    found = _scan(data)
    assert ("pickle/malformed", "high") in found
    small = b"\x80\x02K\x01." * 3 + b"cos\nsystem\n(S'x'\ntR."
    assert ("pickle/dangerous-import", "critical") in _scan(small)
