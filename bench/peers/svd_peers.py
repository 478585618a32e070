"""Peers for bench/svd: scikit-learn TruncatedSVD (randomized and arpack), numpy's full SVD and
numpy's Gram route (XᵀX in float64, eigh, projection), on the very data the Node benchmark wrote.
Dense: <x.npy>; sparse: <prefix> with <prefix>.indptr.npy, .indices.npy, .data.npy, .shape.npy.
Prints one JSON line: per peer, seconds and the relative reconstruction error
1 - |X V^T|^2 / |X|^2 (V orthonormal rows). Usage: svd_peers.py dense|sparse <path> <rank> <peers>"""
import json, sys, time
import numpy as np

kind, path, rank = sys.argv[1], sys.argv[2], int(sys.argv[3])
peers = sys.argv[4].split(",")
if kind == "dense":
    x = np.load(path).astype(np.float32)
    norm = float((x.astype(np.float64) ** 2).sum())
else:
    import scipy.sparse as sp
    shape = tuple(int(v) for v in np.load(path + ".shape.npy"))
    x = sp.csr_matrix((np.load(path + ".data.npy"), np.load(path + ".indices.npy"), np.load(path + ".indptr.npy")), shape=shape)
    norm = float(x.multiply(x).sum())
out = {}

def rel_err(components):
    p = x @ components.T.astype(np.float32)
    return float(1 - (np.asarray(p, dtype=np.float64) ** 2).sum() / norm)

def timed(name, fn, repeats=1):
    """Median of `repeats` runs (this machine's speed drifts; the fast peers are cheap to repeat)."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        comps = fn()
        times.append(time.perf_counter() - t)
    out[name] = {"seconds": sorted(times)[len(times) // 2], "rel_err": rel_err(comps), "runs": len(times)}

from sklearn.decomposition import TruncatedSVD
if "sklearn-randomized" in peers:
    timed("sklearn-randomized", lambda: TruncatedSVD(rank, algorithm="randomized", random_state=0).fit(x).components_)
if "sklearn-arpack" in peers:
    timed("sklearn-arpack", lambda: TruncatedSVD(rank, algorithm="arpack", random_state=0).fit(x).components_)
if "numpy-svd" in peers and kind == "dense":
    timed("numpy-svd", lambda: np.linalg.svd(x, full_matrices=False)[2][:rank])
if "numpy-gram" in peers and kind == "dense":
    def gram():
        x64 = x.astype(np.float64)
        w, v = np.linalg.eigh(x64.T @ x64)
        comps = v[:, ::-1][:, :rank].T
        _ = x @ comps.T.astype(np.float32)  # the projection, as the Gram route returns it
        return comps
    timed("numpy-gram", gram, repeats=3)
print(json.dumps(out))
