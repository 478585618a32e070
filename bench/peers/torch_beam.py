"""PyTorch peer for one trie-constrained diverse beam search step on a GPU: the straightforward
step a user would write (mask from the trie, log_softmax, a loop over the 30 groups with the
Hamming penalty and topk of 2 x group size), beam 60 / 30 groups / penalty 0.25, vocab 256,
62,138 items with 2- or 3-level random IDs, beams standing at depth-1 nodes. Also one read of
the same logits (the floor). Prints median ms over 50 runs (CUDA events)."""
import torch

def bench(fn, reps=50):
    fn(); torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); fn(); b.record(); torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]

def main():
    if not torch.cuda.is_available():
        print("torch: no CUDA device"); return
    dev = "cuda"
    beams, groups, V, penalty, items = 60, 30, 256, 0.25, 62138
    gs = beams // groups
    g = torch.Generator(device="cpu").manual_seed(1)
    for levels in (2, 3):
        codes = torch.randint(0, V, (items, levels), generator=g)
        allowed = torch.zeros(V, V, dtype=torch.bool)  # depth-1 node (first code) -> allowed second codes
        allowed[codes[:, 0], codes[:, 1]] = True
        allowed = allowed.to(dev)
        for batch in (128, 1024):
            logits = torch.randn(batch, beams, V, device=dev) * 4
            first = torch.randint(0, V, (batch, beams), device=dev)
            scores = -torch.rand(batch, beams, device=dev) * 5
            ones = torch.ones(batch, gs, device=dev)
            def step():
                lp = torch.log_softmax(logits, -1).masked_fill(~allowed[first], float("-inf"))
                chosen = torch.zeros(batch, V, device=dev)
                out = []
                for grp in range(groups):
                    s = lp[:, grp * gs:(grp + 1) * gs] - penalty * chosen[:, None, :] + scores[:, grp * gs:(grp + 1) * gs, None]
                    top, idx = s.reshape(batch, -1).topk(2 * gs)
                    tok = idx[:, :gs] % V
                    chosen.scatter_add_(1, tok, ones)
                    out.append(idx)
                return out
            t = bench(step)
            floor = bench(lambda: logits.sum())
            print(f"torch beam-step L={levels} batch={batch:5d}  step {t:8.3f} ms  read-floor {floor:7.3f} ms  ({torch.cuda.get_device_name()})")

main()
