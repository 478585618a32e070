"""numpy peer: times the product X @ C.T (OpenBLAS sgemm, the floor of an assignment step) and the
full nearest-centroid assignment as a numpy user writes it, on the .npy files the Node benchmark
wrote. Threads come from OPENBLAS_NUM_THREADS. Prints one JSON line: median ms of each."""
import json, sys, time
import numpy as np

def median_ms(fn, reps):
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter(); fn(); times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return times[len(times) // 2]

x = np.load(sys.argv[1]); c = np.load(sys.argv[2]); reps = int(sys.argv[3])
cn = (c * c).sum(1)
def assign():
    d = (x * x).sum(1, keepdims=True) - 2 * (x @ c.T) + cn
    return d.argmin(1)
kernel = 'unknown'
try:
    from threadpoolctl import threadpool_info
    kernel = ';'.join(f"{i.get('internal_api')}:{i.get('architecture')}:{i.get('num_threads')}" for i in threadpool_info())
except Exception:
    pass
print(json.dumps({"sgemm_ms": median_ms(lambda: x @ c.T, reps), "assign_ms": median_ms(assign, reps), "blas": kernel, "numpy": np.__version__}))
