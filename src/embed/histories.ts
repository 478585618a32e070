/** Users' training items from the joint data set, and the popularity baseline. */
import type { JointDataset } from '../data/dataset.js';
import type { UserItems } from './enmf.js';

/**
 * Each user's training items (all but the last two interactions) as CSR, duplicates removed.
 * @example const train = trainUserItems(ds); train.itemIds.subarray(train.offsets[0], train.offsets[1])
 */
export function trainUserItems(ds: JointDataset, upTo: 'train' | 'validation' = 'train'): UserItems {
  const { userOffsets, sequence } = ds.interactions;
  const users = userOffsets.length - 1;
  const drop = upTo === 'train' ? 2 : 1;
  const offsets = new Int32Array(users + 1);
  const ids: number[] = [];
  for (let u = 0; u < users; u++) {
    const seen = new Set<number>();
    for (let k = userOffsets[u]; k < userOffsets[u + 1] - drop; k++) seen.add(sequence[k]);
    for (const i of [...seen].sort((a, b) => a - b)) ids.push(i);
    offsets[u + 1] = ids.length;
  }
  return { users, items: ds.items.length, offsets, itemIds: Int32Array.from(ids) };
}

/**
 * The test target of every user (the last interaction).
 * @example testTargets(loadJointDataset('runs/default/data'))[0] // the first user's last item
 */
export function testTargets(ds: JointDataset): Int32Array {
  const { userOffsets, sequence } = ds.interactions;
  return Int32Array.from({ length: userOffsets.length - 1 }, (_, u) => sequence[userOffsets[u + 1] - 1]);
}

/**
 * Popularity baseline Recall@k on the test targets: the k most popular training items a user has
 * not seen (training and validation items excluded).
 * @example popularityRecall(loadJointDataset('runs/default/data'), 30) // Recall@30 of recommending the most popular unseen items
 */
export function popularityRecall(ds: JointDataset, k: number): number {
  const seen = trainUserItems(ds, 'validation');
  const order = Array.from(ds.interactions.popularity.keys()).sort((a, b) => ds.interactions.popularity[b] - ds.interactions.popularity[a] || a - b);
  const targets = testTargets(ds);
  let hits = 0;
  for (let u = 0; u < seen.users; u++) {
    const s = new Set(seen.itemIds.subarray(seen.offsets[u], seen.offsets[u + 1]));
    let taken = 0;
    for (const i of order) {
      if (s.has(i)) continue;
      if (i === targets[u]) { hits++; break; }
      if (++taken >= k) break;
    }
  }
  return seen.users ? hits / seen.users : 0;
}
