import { flattenNamespaces } from './dist/decoding/trie-input.js';
import { buildTrieArrays } from './dist/decoding/trie-build.js';
const n = 4000000;
const codes = new Int32Array(n * 3); for (let i = 0; i < codes.length; i++) codes[i] = (Math.random() * 256) | 0;
const inp = flattenNamespaces({ codes, length: 3, offsets: [0, 256, 512] });
let t = performance.now();
buildTrieArrays(inp);
console.log('build', ((performance.now() - t) / 1e3).toFixed(2));
