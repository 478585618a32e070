"""Peers for bench/rqkmeans: FAISS ResidualQuantizer and scikit-learn KMeans applied per level on
the residuals, on the .npy the Node benchmark wrote (the very same data). Prints one JSON line
with, per peer: train seconds, encode seconds, relative reconstruction error
(mean |x - x_hat|^2 / mean |x|^2). Threads: OMP_NUM_THREADS / OPENBLAS_NUM_THREADS from the caller.
Usage: rq_peers.py <x.npy> <levels> <k> <iters> <threads> <peer,peer,...>"""
import json, sys, time
import numpy as np

x = np.load(sys.argv[1]).astype(np.float32)
levels, k, iters, threads = (int(v) for v in sys.argv[2:6])
peers = sys.argv[6].split(",")
norm = float((x.astype(np.float64) ** 2).sum())
out = {}

def rel_err(xhat):
    return float(((x.astype(np.float64) - xhat) ** 2).sum() / norm)

if "faiss" in peers:
    import faiss
    faiss.omp_set_num_threads(threads)
    rq = faiss.ResidualQuantizer(x.shape[1], levels, int(np.log2(k)))
    rq.train_type = faiss.ResidualQuantizer.Train_default
    rq.max_beam_size = 1
    rq.cp.niter = iters
    rq.cp.seed = 1
    t = time.perf_counter(); rq.train(x); train_s = time.perf_counter() - t
    t = time.perf_counter(); codes = rq.compute_codes(x); enc_s = time.perf_counter() - t
    out["faiss"] = {"train_s": train_s, "encode_s": enc_s, "rel_err": rel_err(rq.decode(codes)), "version": faiss.__version__}

for init in ("random", "k-means++"):
    name = "sklearn_" + init
    if name not in peers:
        continue
    from sklearn.cluster import KMeans
    import sklearn
    r = x.copy()
    xhat = np.zeros_like(x)
    train_s = 0.0
    for level in range(levels):
        km = KMeans(n_clusters=k, init=init, n_init=1, max_iter=iters, tol=0.0, algorithm="lloyd", random_state=level + 1)
        t = time.perf_counter(); km.fit(r); train_s += time.perf_counter() - t
        c = km.cluster_centers_.astype(np.float32)[km.labels_]
        xhat += c
        r -= c
    out[name] = {"train_s": train_s, "encode_s": 0.0, "rel_err": rel_err(xhat), "version": sklearn.__version__,
                 "note": "codes are fit's labels_ (no separate encoding pass)"}

print(json.dumps(out))
