"""numpy peers of dedupCodes: each row's number among the rows that share its codes, in row order,
as a user writes it with numpy: the rows' IDs (np.unique over rows, or one int64 key per row when
the codes fit), then a stable sort by ID and a count within each run. Usage: numpy_dedup.py
codes.npy out.npy reps -> JSON {rows: [...ms], key: [...ms]} on stdout; the numbers of the last rep
written to out.npy (int32) for the comparison (both ways give the same numbers)."""
import json, sys, time
import numpy as np

codes = np.load(sys.argv[1])
reps = int(sys.argv[3])


def numbers(inverse):
    order = np.argsort(inverse, kind='stable')
    ids = inverse[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(ids)]))
    number = np.empty(len(ids), dtype=np.int32)
    number[order] = np.arange(len(ids)) - run_start
    return number


def by_rows():
    return numbers(np.unique(codes, axis=0, return_inverse=True)[1].reshape(-1))


def by_key():
    base = int(codes.max()) + 1
    key = np.zeros(len(codes), dtype=np.int64)
    for col in range(codes.shape[1]):
        key = key * base + codes[:, col]
    return numbers(np.unique(key, return_inverse=True)[1].reshape(-1))


out = {}
for name, f in (('rows', by_rows), ('key', by_key)):
    out[name] = []
    for _ in range(reps):
        t0 = time.perf_counter()
        number = f()
        out[name].append((time.perf_counter() - t0) * 1e3)
    if name == 'rows':
        first = number
assert np.array_equal(first, number)
np.save(sys.argv[2], number)
print(json.dumps(out))
