"""PyTorch peer for RQ-KMeans on a GPU: the plain implementation a user would write (random
init, Lloyd: distances by one matmul, argmin, centroids by index_add_), 2 levels x 256, 20
iterations per level, then greedy encoding. Runs on the .npy files the native bench wrote
(same data). Prints median ms (3 runs) for fp32 and TF32 with the relative error, the data already on the
card, and for fp32 from a host array (the upload timed too, as semid's own timing includes it)."""
import sys, time
import torch

def rq(x, levels=2, k=256, iters=20, seed=1):
    g = torch.Generator(device=x.device).manual_seed(seed)
    r = x.clone()
    books = []
    for _ in range(levels):
        c = r[torch.randperm(r.shape[0], generator=g, device=x.device)[:k]].clone()
        for _ in range(iters):
            d = (r * r).sum(1, keepdim=True) - 2 * r @ c.T + (c * c).sum(1)
            a = d.argmin(1)
            s = torch.zeros_like(c).index_add_(0, a, r)
            cnt = torch.bincount(a, minlength=k).clamp_min(1).unsqueeze(1).float()
            c = s / cnt
        d = (r * r).sum(1, keepdim=True) - 2 * r @ c.T + (c * c).sum(1)
        a = d.argmin(1)
        r = r - c[a]
        books.append(c)
    return books, r

def main():
    if not torch.cuda.is_available():
        print("torch: no CUDA device"); return
    for path in sys.argv[1:]:
        host = torch.from_numpy(__import__("numpy").load(path))
        x = host.cuda()
        xx = (x.double() ** 2).sum().item()
        # The same, timed from a host array (as semid's rq_train is called): the upload included.
        torch.backends.cuda.matmul.allow_tf32 = False
        times = []
        for _ in range(3):
            torch.cuda.synchronize(); t = time.perf_counter()
            _, r = rq(host.cuda())
            torch.cuda.synchronize(); times.append((time.perf_counter() - t) * 1e3)
        times.sort()
        err = (r.double() ** 2).sum().item() / xx
        print(f"torch rq-kmeans {tuple(x.shape)} 2x256 train+codes fp32, host array in {times[1]:9.1f} ms  rel_err {err:.5f}")
        for tf32 in (False, True):
            torch.backends.cuda.matmul.allow_tf32 = tf32
            times = []
            for _ in range(3):
                torch.cuda.synchronize(); t = time.perf_counter()
                _, r = rq(x)
                torch.cuda.synchronize(); times.append((time.perf_counter() - t) * 1e3)
            times.sort()
            err = (r.double() ** 2).sum().item() / xx
            print(f"torch rq-kmeans {tuple(x.shape)} 2x256 train+codes {'tf32' if tf32 else 'fp32'} {times[1]:9.1f} ms  rel_err {err:.5f}")
        torch.backends.cuda.matmul.allow_tf32 = False

if __name__ == "__main__":
    main()
