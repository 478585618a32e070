#!/usr/bin/env node
// The semid CLI entry point: runs dist/cli/main.js (built by `npm install` / `npm run build`).
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => {
    const code = err && err.code ? ` [${err.code}]` : '';
    process.stderr.write(`semid: ${err && err.message ? err.message : String(err)}${code}\n`);
    if (process.env.SEMID_DEBUG && err && err.stack) process.stderr.write(err.stack + '\n');
    process.exitCode = 1;
  },
);
