#!/usr/bin/env node
// The CLI runs the built bundle (shaders inlined); `npm install` builds it through `prepare`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
if (!existsSync(cli)) {
  process.stderr.write('treespec: dist/cli.js is missing; run "npm run build" first\n');
  process.exit(1);
}
await import(cli);
