"""PyTorch peer for nearest-centroid assignment on a GPU: distances via one matmul plus argmin,
what a user would write instead of semid. Same shapes as bench/native: 62,138 x {384, 768}, k=256.
Prints median ms of the device-resident step, float32 and TF32."""
import torch

def median_ms(fn, reps=20):
    fn(); torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); fn(); e.record(); torch.cuda.synchronize()
        times.append(s.elapsed_time(e))
    times.sort()
    return times[len(times) // 2]

def main():
    if not torch.cuda.is_available():
        print("torch: no CUDA device"); return
    g = torch.Generator(device="cuda").manual_seed(7)
    for d in (384, 768):
        x = torch.rand(62138, d, device="cuda", generator=g) * 2 - 1
        c = torch.rand(256, d, device="cuda", generator=g) * 2 - 1
        def step():
            dist = (x * x).sum(1, keepdim=True) - 2 * x @ c.T + (c * c).sum(1)
            return dist.argmin(1)
        for tf32 in (False, True):
            torch.backends.cuda.matmul.allow_tf32 = tf32
            t = median_ms(step)
            gf = 2 * 62138 * 256 * d / 1e9
            print(f"torch nearest 62138x256x{d} {'tf32' if tf32 else 'fp32'} {t:8.3f} ms {gf / t * 1e3:8.1f} GFLOP/s")
        torch.backends.cuda.matmul.allow_tf32 = False
        t = median_ms(lambda: x @ c.T)
        print(f"torch matmul  62138x256x{d} fp32 {t:8.3f} ms")

if __name__ == "__main__":
    main()
