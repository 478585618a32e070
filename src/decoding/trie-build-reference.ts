/**
 * The oracle of trie-build.ts: insert every ID into a trie of per-node maps, then number the
 * nodes breadth-first (roots in namespace order, children by token) into the CSR arrays. Plain
 * and slow (~8 s for a million 3-token IDs); the tests hold the radix builder to it.
 */
import type { TrieArrays } from './trie-build.js';
import type { TrieInput } from './trie-input.js';

/**
 * The trie arrays of flattened IDs, by map insertion.
 * @example buildTrieArraysReference(flattenNamespaces({ codes: [[1, 2], [1, 3]] })).childToken // Int32Array [1, 2, 3]
 */
export function buildTrieArraysReference(input: TrieInput): TrieArrays {
  type MapNode = { children: Map<number, MapNode>; items: number[] | null; depth: number };
  const mapRoots: MapNode[] = input.names.map(() => ({ children: new Map(), items: null, depth: 0 }));
  for (let r = 0; r < input.rowNs.length; ++r) {
    let node = mapRoots[input.rowNs[r]];
    for (let k = input.rowStart[r], level = 0; k < input.rowStart[r + 1]; ++k, ++level) {
      const token = input.tokens[k];
      let next = node.children.get(token);
      if (!next) {
        next = { children: new Map(), items: null, depth: level + 1 };
        node.children.set(token, next);
      }
      node = next;
    }
    (node.items ??= []).push(input.rowItem[r]);
  }
  const order: MapNode[] = [...mapRoots];
  for (let i = 0; i < order.length; ++i) {
    const kids = [...order[i].children.keys()].sort((a, b) => a - b);
    for (const t of kids) order.push(order[i].children.get(t)!);
  }
  const nodes = order.length;
  const index = new Map<MapNode, number>();
  order.forEach((n, i) => index.set(n, i));
  const childStart = new Int32Array(nodes + 1);
  const edges = nodes - mapRoots.length;
  const childToken = new Int32Array(edges), childNode = new Int32Array(edges);
  const terminal = new Int32Array(nodes).fill(-1), parent = new Int32Array(nodes).fill(-1);
  const parentToken = new Int32Array(nodes).fill(-1), depth = new Int32Array(nodes);
  const idNodes: number[] = [], idStartList: number[] = [0], idItemsList: number[] = [];
  let e = 0;
  for (let u = 0; u < nodes; ++u) {
    const n = order[u];
    childStart[u] = e;
    depth[u] = n.depth;
    const kids = [...n.children.keys()].sort((a, b) => a - b);
    for (const t of kids) {
      const c = index.get(n.children.get(t)!)!;
      childToken[e] = t;
      childNode[e] = c;
      parent[c] = u;
      parentToken[c] = t;
      ++e;
    }
    if (n.items) {
      terminal[u] = idNodes.length;
      idNodes.push(u);
      const sorted = [...new Set(n.items)].sort((a, b) => a - b);
      for (const it of sorted) idItemsList.push(it);
      idStartList.push(idItemsList.length);
    }
  }
  childStart[nodes] = e;
  return {
    namespaces: input.names, roots: Int32Array.from(mapRoots.map((r) => index.get(r)!)), childStart, childToken, childNode,
    terminal, parent, parentToken, depth, idStart: Int32Array.from(idStartList), idItems: Int32Array.from(idItemsList),
    idNode: Int32Array.from(idNodes),
  };
}
