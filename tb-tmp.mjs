import { flattenNamespaces } from './dist/decoding/trie-input.js';
import { buildTrieArrays } from './dist/decoding/trie-build.js';
import { buildTrieArraysReference } from './dist/decoding/trie-build-reference.js';
let seed = 1; const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
const ri = (n) => Math.floor(rnd() * n);
let bad = 0;
for (let it = 0; it < 500; it++) {
  const nsCount = 1 + ri(3);
  const list = [];
  for (let ns = 0; ns < nsCount; ns++) {
    const rows = ri(40);
    const variable = rnd() < 0.4;
    const len = 1 + ri(4);
    const vocab = [2, 5, 300, 70000][ri(4)];
    const codes = [];
    for (let r = 0; r < rows; r++) codes.push(Array.from({ length: variable ? 1 + ri(4) : len }, () => ri(vocab)));
    const spec = { name: 'n' + ns, codes };
    if (rnd() < 0.5) spec.items = Array.from({ length: rows }, () => ri(rnd() < 0.5 ? 5 : 100000));
    if (rnd() < 0.3) spec.offsets = [ri(1000), ri(100000), ri(5), ri(3)];
    list.push(spec);
  }
  const inp = flattenNamespaces(list);
  const a = buildTrieArrays(inp), b = buildTrieArraysReference(inp);
  for (const k of Object.keys(b)) {
    if (JSON.stringify(Array.from(a[k])) !== JSON.stringify(Array.from(b[k]))) { bad++; if (bad < 4) console.log('differ', it, k, Array.from(a[k]).slice(0, 12), Array.from(b[k]).slice(0, 12)); break; }
  }
}
console.log('bad', bad);
// big timing
for (const n of [1000000, 4000000]) {
  const codes = new Int32Array(n * 3); for (let i = 0; i < codes.length; i++) codes[i] = (Math.random() * 256) | 0;
  let t = performance.now();
  const inp = flattenNamespaces({ codes, length: 3, offsets: [0, 256, 512] });
  const tf = performance.now() - t; t = performance.now();
  const a = buildTrieArrays(inp);
  const tb = performance.now() - t;
  let tr = NaN;
  if (n <= 1000000) { t = performance.now(); const b = buildTrieArraysReference(inp); tr = performance.now() - t; for (const k of Object.keys(b)) if (a[k].length !== b[k].length || a[k].some?.((v, i) => v !== b[k][i])) console.log('big differ', k); }
  console.log(n, 'flatten', (tf / 1e3).toFixed(2), 's radix build', (tb / 1e3).toFixed(2), 's reference', (tr / 1e3).toFixed(2), 's', 'rss MB', (process.memoryUsage().rss / 1e6).toFixed(0));
}
