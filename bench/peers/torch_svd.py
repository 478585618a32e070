"""PyTorch peer for truncated SVD on a GPU: torch.svd_lowrank (q = 266, 2 power iterations as
in the issue, and 3) and torch.linalg.svd, on the .npy the native bench wrote (same data). Prints the
median ms (5 runs) and the relative error 1 - ||X V||^2 / ||X||^2 of the top 256 right vectors."""
import sys, time
import numpy as np
import torch

def timed(fn, reps=5):
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        torch.cuda.synchronize(); t = time.perf_counter()
        out = fn()
        torch.cuda.synchronize(); times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return times[len(times) // 2], out

def rel_err(x, v):
    p = x.double() @ v.double()
    return 1.0 - (p ** 2).sum().item() / (x.double() ** 2).sum().item()

def main():
    if not torch.cuda.is_available():
        print("torch: no CUDA device"); return
    torch.backends.cuda.matmul.allow_tf32 = False
    for path in sys.argv[1:]:
        x = torch.from_numpy(np.load(path)).cuda()
        for niter in (2, 3):
            t, (u, s, v) = timed(lambda: torch.svd_lowrank(x, q=266, niter=niter))
            print(f"torch svd_lowrank {tuple(x.shape)} q266 niter{niter}   {t:9.2f} ms  rel_err {rel_err(x, v[:, :256]):.6f}")
        t, (u, s, vh) = timed(lambda: torch.linalg.svd(x, full_matrices=False), reps=3)
        print(f"torch linalg.svd  {tuple(x.shape)}              {t:9.2f} ms  rel_err {rel_err(x, vh[:256].T):.6f}")

if __name__ == "__main__":
    main()
