"""Hugging Face transformers' group (diverse) beam search with prefix_allowed_tokens_fn, as
transformers 4.36-4.57 runs it for an encoder-decoder, in numpy: the independent oracle of
test/hf-group-beam.test.ts (run when python3 has numpy; the test suite passes without it).

Written here from the algorithm (GenerationMixin._group_beam_search, HammingDiversityLogitsProcessor,
PrefixConstrainedLogitsProcessor, BeamSearchScorer and BeamHypotheses), with float32 scores where
torch computes in float32 and Python floats where transformers calls .item():
  - beam scores start at 0 for the first beam of each group and -1e9 for the others;
  - per group: log-probs - penalty * (tokens chosen at this step by earlier groups), masked to the
    allowed tokens (-inf elsewhere), plus the beam scores; the top 2 * group_size of the group's
    group_size * vocab candidates, sorted;
  - process(): an end-token candidate ranked below group_size finishes an ID (score / generated
    length ** length_penalty, generated length = tokens generated with the end token), ranked
    lower it is skipped; other candidates fill the group's beams; the group is done when its
    hypotheses are full and cannot be beaten (is_done with cur_len = length + 1);
  - the rows are reordered group by group and extended by the chosen tokens after every group;
  - stop when every group is done or max_new_tokens are generated; finalize() adds the beams of
    unfinished groups; a query's hypotheses are all its groups' sorted by score, popped from the
    end (ties: the later group, then the later addition, first).

Input: a JSON list of cases {batch, beams, groups, penalty, lengthPenalty, early, maxNew, numReturn,
vocab, logits, table: {"<query>|<t1,t2,..>": [vocab] log-probs, or logits where `logits` is true
(log_softmax over the whole vocabulary, in float32, before the mask)}, children: {"<t1,t2,..>":
allowed tokens}};
token 1 ends an ID, token 0 is the decoder start and pad. Output: per case, per query, the ranked
hypotheses {tokens (the ID, without the end token), score}, and flags where transformers' own order
is not defined (exact ties at a top-k, dead beams' arbitrary tokens) so that a comparison can skip
them (and where two deciding scores lie within float32 rounding: logits, whose log-softmax
rounds differently in torch, numpy and our float64 sum). Usage: python3 hf_group_beam_search.py cases.json out.json
"""
import json
import sys

import numpy as np

EOS, PAD, START = 1, 0, 0


class Hypotheses:
    """BeamHypotheses: the best `size` finished IDs of one group."""

    def __init__(self, size, length_penalty, early_stopping):
        self.size, self.length_penalty, self.early = size, length_penalty, early_stopping
        self.beams = []
        self.worst = 1e9

    def add(self, tokens, sum_logprobs, generated_len):
        score = sum_logprobs / (generated_len ** self.length_penalty)
        if len(self.beams) < self.size or score > self.worst:
            self.beams.append((score, tokens))
            if len(self.beams) > self.size:
                ranked = sorted((s, i) for i, (s, _) in enumerate(self.beams))
                del self.beams[ranked[0][1]]
                self.worst = ranked[1][0]
            else:
                self.worst = min(score, self.worst)

    def is_done(self, best_sum_logprobs, cur_len, prompt_len):
        if len(self.beams) < self.size:
            return False
        if self.early:
            return True
        return self.worst >= best_sum_logprobs / (cur_len - prompt_len) ** self.length_penalty


def top_candidates(scores, k):
    """The top k of a row, sorted descending (lower index first among equals); whether an exact tie
    among finite values decided anything (torch.topk leaves that order unspecified), and whether
    two of the values that decided it lie within float32 rounding of each other (1e-5 relative)."""
    order = np.argsort(-scores, kind='stable')
    top = order[:k]
    values = scores[top]
    finite = values[np.isfinite(values)]
    tie = len(np.unique(finite)) != len(finite)
    if k < len(scores) and np.isfinite(scores[order[k - 1]]) and scores[order[k - 1]] == scores[order[k]]:
        tie = True
    deciding = scores[order[:k + 1]].astype(np.float64)
    deciding = deciding[np.isfinite(deciding)]
    gaps = -np.diff(deciding)
    near = bool(np.any(gaps <= 1e-5 * np.maximum(1.0, np.abs(deciding[1:])))) if len(deciding) > 1 else False
    return top, values, tie, near


def log_softmax(logits):
    """log_softmax over the whole vocabulary in float32 (as torch, before any mask)."""
    x = logits.astype(np.float32)
    m = x.max()
    return (x - m - np.log(np.exp(x - m).sum(dtype=np.float32))).astype(np.float32)


def search(case):
    batch, beams, groups = case['batch'], case['beams'], case['groups']
    vocab, max_new = case['vocab'], case['maxNew']
    penalty = np.float32(case['penalty'])
    table, children = case['table'], case['children']
    group_size = beams // groups
    prefix = lambda row: ','.join(map(str, row[1:]))
    rows = [[START] for _ in range(batch * beams)]
    beam_scores = np.full((batch, beams), -1e9, dtype=np.float32)
    beam_scores[:, ::group_size] = 0
    beam_scores = beam_scores.reshape(-1)
    hyps = [Hypotheses(group_size, case['lengthPenalty'], case['early']) for _ in range(batch * groups)]
    done = [False] * (batch * groups)
    flags = {'tie': False, 'nearTie': False, 'deadTokens': False, 'deadHypotheses': False}
    while True:
        logprobs = np.zeros((batch * beams, vocab), dtype=np.float32)
        for r in range(batch * beams):
            row = table.get(f'{r // beams}|{prefix(rows[r])}')
            if row is not None:
                row = np.array(row, dtype=np.float32)
                logprobs[r] = log_softmax(row) if case.get('logits') else row
        current = np.zeros(batch * beams, dtype=np.int64)
        dead = np.zeros(batch * beams, dtype=bool)  # beams filled from -inf candidates at this step
        cur_len = len(rows[0]) + 1  # as process() computes it: rows grow only after every group
        for g in range(groups):
            idx = [b * beams + j for b in range(batch) for j in range(g * group_size, (g + 1) * group_size)]
            scores = logprobs[idx].copy()
            if g > 0 and penalty > 0:
                for b in range(batch):
                    earlier = slice(b * beams, b * beams + g * group_size)
                    # tokens of live beams; a dead beam's token (torch's order among -inf picks
                    # it) is flagged where it could have penalised a live beam of this group
                    freq = np.bincount(current[earlier][~dead[earlier]], minlength=vocab).astype(np.float32)
                    scores[b * group_size:(b + 1) * group_size] -= (penalty * freq).astype(np.float32)
                    for t in current[earlier][dead[earlier]]:
                        for j in range(g * group_size, (g + 1) * group_size):
                            r = b * beams + j
                            if np.isfinite(beam_scores[r]) and t in children.get(prefix(rows[r]), []):
                                flags['deadTokens'] = True
            mask = np.full_like(scores, -np.inf)
            for i, r in enumerate(idx):
                mask[i, children.get(prefix(rows[r]), [EOS])] = 0
            candidates = ((scores + mask).astype(np.float32) + beam_scores[idx][:, None]).astype(np.float32)
            candidates = candidates.reshape(batch, group_size * vocab)
            next_scores = np.zeros(batch * group_size, dtype=np.float32)
            next_tokens = np.zeros(batch * group_size, dtype=np.int64)
            next_rows = np.zeros(batch * group_size, dtype=np.int64)
            for b in range(batch):
                bg = b * groups + g
                if done[bg]:  # padded: scores 0, pad tokens, rows from the group's first row
                    next_tokens[b * group_size:(b + 1) * group_size] = PAD
                    continue
                top, values, tie, near = top_candidates(candidates[b], 2 * group_size)
                flags['tie'] = flags['tie'] or tie
                flags['nearTie'] = flags['nearTie'] or near
                filled = 0
                for rank, (flat, score) in enumerate(zip(top, values)):
                    token, beam = int(flat % vocab), int(flat // vocab)
                    if token == EOS:
                        if rank >= group_size:
                            continue
                        if not np.isfinite(score):
                            flags['deadHypotheses'] = True
                        hyps[bg].add(list(rows[idx[b * group_size + beam]]), float(score), cur_len - 1)
                    else:
                        k = b * group_size + filled
                        next_scores[k], next_tokens[k], next_rows[k] = score, token, b * group_size + beam
                        filled += 1
                    if filled == group_size:
                        break
                done[bg] = done[bg] or hyps[bg].is_done(float(values.max()), cur_len, 1)
            reordered = [list(rows[idx[next_rows[k]]]) for k in range(batch * group_size)]
            for k, r in enumerate(idx):
                rows[r] = reordered[k]
                beam_scores[r] = next_scores[k]
                current[r] = next_tokens[k]
                dead[r] = not np.isfinite(next_scores[k])
        rows = [row + [int(current[r])] for r, row in enumerate(rows)]
        if all(done) or len(rows[0]) >= max_new + 1:
            break
    for bg in range(batch * groups):
        if done[bg]:
            continue
        for k in range(group_size):
            r = (bg // groups) * beams + (bg % groups) * group_size + k
            if not np.isfinite(beam_scores[r]):  # transformers adds it (-inf, not an ID) where there is room
                flags['deadHypotheses'] = flags['deadHypotheses'] or len(hyps[bg].beams) < group_size
                continue
            hyps[bg].add(list(rows[r]), float(beam_scores[r]), len(rows[r]) - 1)
    ranked = []
    for b in range(batch):
        pool = sorted((h for hs in hyps[b * groups:(b + 1) * groups] for h in hs.beams), key=lambda h: h[0])
        out = []
        for _ in range(min(case['numReturn'], len(pool))):
            score, tokens = pool.pop()
            out.append({'tokens': [t for t in tokens[1:] if t != EOS], 'score': score})
        ranked.append(out)
    return {'hypotheses': ranked, **flags}


if __name__ == '__main__':
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    with open(sys.argv[2], 'w') as f:
        json.dump([search(c) for c in cases], f)
