"""Exactness peer: on the .npy files the Node benchmark wrote, the nearest centroid of each row by
FAISS's IndexFlatL2, numpy's float32 expansion (|x|^2 - 2 x.c + |c|^2) and scikit-learn's
pairwise_distances_argmin, each compared with the exact argmin (float64 direct differences; ties
to the lower index). Prints one JSON line: rows each method got wrong, and the exact argmin."""
import json, sys
import numpy as np

x = np.load(sys.argv[1]); c = np.load(sys.argv[2])
x64, c64 = x.astype(np.float64), c.astype(np.float64)
exact = np.empty(len(x), dtype=np.int64)
for s in range(0, len(x), 512):
    exact[s:s + 512] = ((x64[s:s + 512, None, :] - c64[None]) ** 2).sum(-1).argmin(1)
out = {"exact": exact.tolist()}
out["numpy_expansion"] = int((((x * x).sum(1, keepdims=True) - 2 * (x @ c.T) + (c * c).sum(1)).argmin(1) != exact).sum())
try:
    import faiss
    index = faiss.IndexFlatL2(x.shape[1]); index.add(c)
    out["faiss"] = int((index.search(x, 1)[1][:, 0] != exact).sum())
except ImportError:
    pass
try:
    from sklearn.metrics import pairwise_distances_argmin
    out["sklearn"] = int((pairwise_distances_argmin(x, c) != exact).sum())
except ImportError:
    pass
print(json.dumps(out))
