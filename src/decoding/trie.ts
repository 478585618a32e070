/**
 * IdTrie: the catalogue's Semantic IDs as a prefix tree in a compact array (CSR) layout, the
 * structure constrained decoding walks. Children of node u are the entries
 * childStart[u] .. childStart[u + 1] of childToken / childNode, sorted by token. Several
 * namespaces (e.g. the Separate strategy's search and recommendation IDs) live side by side, each
 * under its own root. An ID (a full path) may name several items when IDs collide.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../io/atomic.js';
import { SemidArgumentError, SemidError } from '../kernels/errors.js';
import { buildTrieArrays, type TrieArrays } from './trie-build.js';
import { flattenNamespaces, type IdTrieNamespace } from './trie-input.js';

export type { IdTrieNamespace } from './trie-input.js';

/** Shape statistics of a trie. */
export interface IdTrieStats {
  namespaces: string[];
  nodes: number;
  edges: number;
  /** Distinct IDs (full paths). */
  ids: number;
  /** (item, namespace) entries inserted. */
  entries: number;
  /** Longest ID, in tokens. */
  maxDepth: number;
  /** Per depth (0 = roots): how many nodes, and their mean and largest number of children. */
  levels: Array<{ depth: number; nodes: number; meanChildren: number; maxChildren: number }>;
  /** IDs naming more than one item, the entries inside them, and the largest such bucket. */
  collidingIds: number;
  entriesInCollisions: number;
  largestBucket: number;
}

const MAGIC = 'SEMIDTRIE1';

/**
 * The Semantic IDs of a catalogue as a prefix tree (layout above); built with IdTrie.build or read with IdTrie.load.
 * @example const trie = IdTrie.build({ codes: new Int32Array([1, 2, 1, 3]), length: 2 }); trie.allowed(trie.child(trie.root(), 1)) // Int32Array [2, 3]
 */
export class IdTrie {
  /** Namespace names, in the order of `roots`. */
  readonly namespaces: readonly string[];
  /** Root node of each namespace. */
  readonly roots: Int32Array;
  /** [nodes + 1] offsets into childToken / childNode. */
  readonly childStart: Int32Array;
  /** [edges] tokens, ascending within each node. */
  readonly childToken: Int32Array;
  /** [edges] child node of each edge. */
  readonly childNode: Int32Array;
  /** [nodes] the ID that ends at each node, or -1. */
  readonly terminal: Int32Array;
  /** [nodes] parent node (-1 for roots) and the token on the edge from it. */
  readonly parent: Int32Array;
  readonly parentToken: Int32Array;
  /** [nodes] depth in tokens (0 for roots). */
  readonly depth: Int32Array;
  /** [ids + 1] offsets into idItems: the items each ID names, ascending. */
  readonly idStart: Int32Array;
  readonly idItems: Int32Array;
  /** [ids] the node where each ID ends. */
  readonly idNode: Int32Array;

  private constructor(fields: TrieArrays) {
    this.namespaces = fields.namespaces;
    this.roots = fields.roots;
    this.childStart = fields.childStart;
    this.childToken = fields.childToken;
    this.childNode = fields.childNode;
    this.terminal = fields.terminal;
    this.parent = fields.parent;
    this.parentToken = fields.parentToken;
    this.depth = fields.depth;
    this.idStart = fields.idStart;
    this.idItems = fields.idItems;
    this.idNode = fields.idNode;
  }

  get nodes(): number { return this.terminal.length; }
  get edges(): number { return this.childToken.length; }
  get ids(): number { return this.idNode.length; }
  /** One more than the largest token on any edge: step outputs need at least this many columns. */
  get vocabSize(): number {
    if (this.cachedVocabSize === undefined) {  // O(edges) once: every beam step asks
      let m = -1;
      for (let e = 0; e < this.childToken.length; ++e) if (this.childToken[e] > m) m = this.childToken[e];
      this.cachedVocabSize = m + 1;
    }
    return this.cachedVocabSize;
  }
  /**
   * Whether any ID uses token t (on any edge, any namespace). O(edges) once, then O(1): a search
   * asks it of its end token, which must not be an ID token.
   *
   * @example
   * IdTrie.build({ codes: new Int32Array([1, 2, 3, 4]), length: 2 }).usesToken(3);  // true
   */
  usesToken(t: number): boolean {
    if (this.cachedTokenUse === undefined) {
      const use = new Uint8Array(this.vocabSize);
      for (let e = 0; e < this.childToken.length; ++e) use[this.childToken[e]] = 1;
      this.cachedTokenUse = use;
    }
    return Number.isInteger(t) && t >= 0 && t < this.cachedTokenUse.length && this.cachedTokenUse[t] === 1;
  }
  /** Longest ID in tokens (of every namespace: idLengths' largest max). */
  get maxDepth(): number {
    let m = 0;
    for (let ns = 0; ns < this.roots.length; ++ns) m = Math.max(m, this.idLengths(ns).max);
    return m;
  }
  /**
   * A node where one ID ends and another goes on (an ID that is a prefix of another), or -1 when
   * there is none: decoding then needs an end token. The first of idLengths' prefix nodes.
   *
   * @example
   * IdTrie.build({ codes: new Int32Array([1, 2, 3, 4]), length: 2 }).prefixNode;  // -1
   */
  get prefixNode(): number {
    let found = -1;
    for (let ns = 0; ns < this.roots.length; ++ns) {
      const u = this.idLengths(ns).prefixNode;
      if (u >= 0 && (found < 0 || u < found)) found = u;
    }
    return found;
  }
  private cachedVocabSize: number | undefined;
  private cachedTokenUse: Uint8Array | undefined;
  /** [namespaces x 3] min and max ID length and first prefix node of each namespace (idLengths). */
  private cachedIdLengths: Int32Array | undefined;
  /** [ids] itemsOf's views, made on first use. */
  private itemViews: (Int32Array | undefined)[] | undefined;

  /**
   * Build a trie from one or more namespaces of IDs.
   *
   * @example
   * const trie = IdTrie.build({ codes: new Int32Array([1, 2, 1, 3, 4, 0]), length: 2 });
   * trie.lookup([1, 3]); // Int32Array [1]: item 1 has ID (1, 3)
   * // or straight from RQ-KMeans: IdTrie.build({ codes: await model.encode(x), offsets: [0, 256] })
   */
  static build(input: IdTrieNamespace | IdTrieNamespace[]): IdTrie {
    return new IdTrie(buildTrieArrays(flattenNamespaces(input)));
  }

  /**
   * How long the IDs of namespace `ns` (its index in `namespaces`) are, and the first node where
   * one of them ends and another goes on (-1: none). O(nodes) once for all namespaces: every
   * search asks of the namespaces it decodes. An empty namespace has lengths 0 to 0.
   *
   * @example
   * IdTrie.build([{ name: 'a', codes: [[1, 2]] }, { name: 'b', codes: [[3], [4, 5, 6]] }]).idLengths(1);  // { min: 1, max: 3, prefixNode: -1 }
   */
  idLengths(ns: number): { min: number; max: number; prefixNode: number } {
    if (!Number.isInteger(ns) || ns < 0 || ns >= this.roots.length) {
      throw new SemidArgumentError('ns', `a namespace index in [0, ${this.roots.length})`, ns);
    }
    if (this.cachedIdLengths === undefined) {
      const n = this.roots.length, table = new Int32Array(3 * n);
      const { childStart, childNode, terminal, depth } = this;
      const stack: number[] = [];
      for (let i = 0; i < n; ++i) {
        let min = 2 ** 31 - 1, max = 0, prefix = -1;
        stack.push(this.roots[i]);
        while (stack.length > 0) {
          const u = stack.pop()!;
          if (terminal[u] >= 0) {
            if (depth[u] < min) min = depth[u];
            if (depth[u] > max) max = depth[u];
            if (childStart[u + 1] > childStart[u] && (prefix < 0 || u < prefix)) prefix = u;
          }
          for (let e = childStart[u]; e < childStart[u + 1]; ++e) stack.push(childNode[e]);
        }
        table[3 * i] = min === 2 ** 31 - 1 ? 0 : min;  // no ID: lengths 0 to 0
        table[3 * i + 1] = max;
        table[3 * i + 2] = prefix;
      }
      this.cachedIdLengths = table;
    }
    const t = this.cachedIdLengths;
    return { min: t[3 * ns], max: t[3 * ns + 1], prefixNode: t[3 * ns + 2] };
  }

  /** Root node of a namespace (default: the first). */
  root(namespace?: string): number {
    if (namespace === undefined) return this.roots[0];
    const i = this.namespaces.indexOf(namespace);
    if (i < 0) throw new SemidArgumentError('namespace', `one of ${this.namespaces.map((n) => JSON.stringify(n)).join(', ')}`, namespace);
    return this.roots[i];
  }

  /** The child of `node` along `token`, or -1 (binary search over the sorted children). */
  child(node: number, token: number): number {
    let lo = this.childStart[node], hi = this.childStart[node + 1] - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1, t = this.childToken[mid];
      if (t === token) return this.childNode[mid];
      if (t < token) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
  }

  /** Tokens allowed after `node` (its children's tokens, ascending). */
  allowed(node: number): Int32Array {
    return this.childToken.subarray(this.childStart[node], this.childStart[node + 1]);
  }

  /** The node reached by following `tokens` from a namespace's root, or -1. */
  walk(tokens: ArrayLike<number>, namespace?: string): number {
    let node = this.root(namespace);
    for (let i = 0; i < tokens.length && node >= 0; ++i) node = this.child(node, tokens[i]);
    return node;
  }

  /** The items whose ID is exactly `tokens` (empty when it is not an ID). */
  lookup(tokens: ArrayLike<number>, namespace?: string): Int32Array {
    const node = this.walk(tokens, namespace);
    if (node < 0 || this.terminal[node] < 0) return new Int32Array(0);
    return this.itemsOf(this.terminal[node]);
  }

  /**
   * The items an ID (by index) names: a view into the trie's storage (do not write to it), made
   * once per ID and then reused, so that ranking a batch's hypotheses allocates no view per hypothesis.
   *
   * @example
   * const trie = IdTrie.build({ codes: new Int32Array([0, 1, 0, 1]), length: 2, items: [7, 9] });
   * trie.itemsOf(trie.terminal[trie.walk([0, 1])]);  // Int32Array [7, 9]: both items share the ID
   */
  itemsOf(id: number): Int32Array {
    if (!Number.isInteger(id) || id < 0 || id >= this.ids) throw new SemidArgumentError('id', `an ID index in [0, ${this.ids})`, id);
    this.itemViews ??= new Array<Int32Array | undefined>(this.ids).fill(undefined);  // filled: fast elements, not a sparse array
    let view = this.itemViews[id];
    if (view === undefined) {
      view = this.idItems.subarray(this.idStart[id], this.idStart[id + 1]);
      this.itemViews[id] = view;
    }
    return view;
  }

  /** The token path from the root to `node`. */
  tokensOf(node: number): number[] {
    const out: number[] = [];
    for (let u = node; this.parent[u] >= 0; u = this.parent[u]) out.push(this.parentToken[u]);
    return out.reverse();
  }

  /** Nodes, edges, depth, branching per level and collisions. */
  stats(): IdTrieStats {
    const maxDepth = this.maxDepth;
    const levels: IdTrieStats['levels'] = [];
    let deepest = 0;  // a loop: spreading the depths into Math.max overflows the stack on big tries
    for (let u = 0; u < this.nodes; ++u) if (this.depth[u] > deepest) deepest = this.depth[u];
    for (let d = 0; d <= deepest; ++d) levels.push({ depth: d, nodes: 0, meanChildren: 0, maxChildren: 0 });
    for (let u = 0; u < this.nodes; ++u) {
      const lv = levels[this.depth[u]], c = this.childStart[u + 1] - this.childStart[u];
      lv.nodes += 1;
      lv.meanChildren += c;
      lv.maxChildren = Math.max(lv.maxChildren, c);
    }
    for (const lv of levels) lv.meanChildren = lv.nodes ? lv.meanChildren / lv.nodes : 0;
    let colliding = 0, inCollisions = 0, largest = 0;
    for (let id = 0; id < this.ids; ++id) {
      const size = this.idStart[id + 1] - this.idStart[id];
      largest = Math.max(largest, size);
      if (size > 1) { colliding += 1; inCollisions += size; }
    }
    return {
      namespaces: [...this.namespaces], nodes: this.nodes, edges: this.edges, ids: this.ids, entries: this.idItems.length,
      maxDepth, levels, collidingIds: colliding, entriesInCollisions: inCollisions, largestBucket: largest,
    };
  }

  /** Serialise: magic, a JSON header, then the arrays (int32 little-endian, 4-byte aligned). */
  toBuffer(): Buffer {
    const arrays = this.arrays();
    const header = Buffer.from(JSON.stringify({
      version: 1, namespaces: this.namespaces, lengths: Object.fromEntries(Object.entries(arrays).map(([k, v]) => [k, v.length])),
    }));
    const pad = (4 - ((MAGIC.length + 4 + header.length) % 4)) % 4;
    const parts: Buffer[] = [Buffer.from(MAGIC, 'latin1'), u32(header.length + pad), header, Buffer.alloc(pad, 0x20)];
    for (const arr of Object.values(arrays)) parts.push(int32le(arr));
    return Buffer.concat(parts);
  }

  /** Read what toBuffer wrote; `source` names the data in errors. */
  static fromBuffer(buf: Uint8Array, source = 'buffer'): IdTrie {
    const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    const bad = (why: string) => new SemidError('ERR_SEMID_BAD_FILE', `${source} is not a semid trie file: ${why}`);
    if (b.length < MAGIC.length + 4 || b.toString('latin1', 0, MAGIC.length) !== MAGIC) throw bad(`it does not start with ${MAGIC}`);
    const hlen = b.readUInt32LE(MAGIC.length);
    let header: { version: number; namespaces: string[]; lengths: Record<string, number> };
    try {
      header = JSON.parse(b.toString('utf8', MAGIC.length + 4, MAGIC.length + 4 + hlen));
    } catch {
      throw bad('its header is not JSON');
    }
    if (header.version !== 1) throw bad(`unsupported version ${header.version}`);
    let off = MAGIC.length + 4 + hlen;
    const fields: Record<string, Int32Array> = {};
    for (const name of ARRAY_NAMES) {
      const len = header.lengths?.[name];
      if (!Number.isInteger(len) || len < 0 || off + 4 * len > b.length) throw bad(`array ${name} is missing or truncated`);
      fields[name] = readInt32Array(b, off, len);
      off += 4 * len;
    }
    if (off !== b.length) throw bad(`${b.length - off} trailing bytes`);
    const trie = new IdTrie({ namespaces: header.namespaces, ...(fields as Record<(typeof ARRAY_NAMES)[number], Int32Array>) });
    trie.check(source);
    return trie;
  }

  /** Write atomically to `path`. */
  save(path: string): void {
    writeFileAtomic(path, [this.toBuffer()]);
  }

  /** Load a trie written by save(). */
  static load(path: string): IdTrie {
    let buf: Buffer;
    try {
      buf = readFileSync(path);
    } catch (err) {
      throw new SemidError('ERR_SEMID_NOT_FOUND', `Cannot read the trie file ${path}: ${(err as Error).message}`, { cause: err });
    }
    return IdTrie.fromBuffer(buf, path);
  }

  private arrays(): Record<(typeof ARRAY_NAMES)[number], Int32Array> {
    return {
      roots: this.roots, childStart: this.childStart, childToken: this.childToken, childNode: this.childNode,
      terminal: this.terminal, parent: this.parent, parentToken: this.parentToken, depth: this.depth,
      idStart: this.idStart, idItems: this.idItems, idNode: this.idNode,
    };
  }

  /** Structural checks after loading (indices in range, sorted children, consistent IDs). */
  private check(source: string): void {
    const fail = (why: string) => { throw new SemidError('ERR_SEMID_BAD_FILE', `${source} holds a malformed trie: ${why}`); };
    const n = this.nodes;
    if (this.childStart.length !== n + 1 || this.parent.length !== n || this.depth.length !== n) fail('array lengths disagree');
    if (this.roots.length !== this.namespaces.length) fail('one root per namespace expected');
    if (this.childStart[0] !== 0 || this.childStart[n] !== this.edges) fail('child offsets do not cover the edges');
    if (this.edges !== n - this.roots.length) fail(`${this.edges} edges for ${n} nodes under ${this.roots.length} roots (a forest has nodes - roots)`);
    if (this.terminal.length !== n || this.parentToken.length !== n || this.childToken.length !== this.edges) fail('array lengths disagree');
    this.roots.forEach((r, i) => {
      if (!(r >= 0 && r < n) || this.parent[r] !== -1 || this.parentToken[r] !== -1 || this.depth[r] !== 0) fail(`root ${i} is not a root node`);
    });
    for (let u = 0; u < n; ++u) {
      const c0 = this.childStart[u], c1 = this.childStart[u + 1];
      if (c1 < c0) fail(`child offsets of node ${u} decrease`);
      for (let e = c0; e < c1; ++e) {
        const c = this.childNode[e];
        if (c < 0 || c >= n || this.parent[c] !== u) fail(`edge ${e} points to a bad node`);
        if (this.parentToken[c] !== this.childToken[e] || this.depth[c] !== this.depth[u] + 1) fail(`node ${c} disagrees with the edge ${e} that reaches it`);
        if (this.childToken[e] < 0) fail(`edge ${e} has a negative token`);
        if (e > c0 && this.childToken[e] <= this.childToken[e - 1]) fail(`children of node ${u} are not sorted`);
      }
      if (c0 === c1 && this.terminal[u] < 0) fail(`node ${u} has no children and ends no ID`);
      const id = this.terminal[u];
      if (id < -1 || id >= this.ids || (id >= 0 && this.idNode[id] !== u)) fail(`node ${u} names ID ${id} of ${this.ids}`);
    }
    if (this.idStart.length !== this.ids + 1 || this.idStart[0] !== 0 || this.idStart[this.ids] !== this.idItems.length) fail('ID item offsets disagree');
    for (let i = 0; i < this.ids; ++i) {
      if (this.idStart[i + 1] <= this.idStart[i]) fail(`ID ${i} names no items (its item offsets do not increase)`);
      const u = this.idNode[i];
      if (!(u >= 0 && u < n) || this.terminal[u] !== i) fail(`ID ${i} ends at a node that does not name it`);
    }
    for (let k = 0; k < this.idItems.length; ++k) if (this.idItems[k] < 0) fail(`item ${this.idItems[k]} is negative`);
  }
}

const ARRAY_NAMES = ['roots', 'childStart', 'childToken', 'childNode', 'terminal', 'parent', 'parentToken', 'depth', 'idStart', 'idItems', 'idNode'] as const;

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
}

const LITTLE_ENDIAN = new Uint8Array(Int32Array.of(1).buffer)[0] === 1;

/** The array's bytes as int32 little-endian (its own bytes on a little-endian machine). */
function int32le(arr: Int32Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength);
  const b = Buffer.alloc(arr.length * 4);
  for (let i = 0; i < arr.length; ++i) b.writeInt32LE(arr[i], 4 * i);
  return b;
}

/** `len` int32 little-endian values from byte `off` of b, into an array of their own. */
function readInt32Array(b: Buffer, off: number, len: number): Int32Array {
  const arr = new Int32Array(len);
  if (LITTLE_ENDIAN) new Uint8Array(arr.buffer).set(b.subarray(off, off + 4 * len));
  else for (let i = 0; i < len; ++i) arr[i] = b.readInt32LE(off + 4 * i);
  return arr;
}
