#!/usr/bin/env node
// Gives every relative import of the emitted declarations (dist/**/*.d.ts) its file extension,
// as consumers' TypeScript requires under moduleResolution node16/nodenext: "./engine" becomes
// "./engine.js" (or "./engine/index.js"). The sources omit extensions (bundler resolution), and
// tsc copies specifiers into declarations as written. Run by `npm run build:lib` after tsc.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const root = process.argv[2] ?? 'dist';

function* declarations(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* declarations(path);
    else if (entry.name.endsWith('.d.ts')) yield path;
  }
}

/** The specifier with the extension of the declaration file it names; throws when none exists. */
function withExtension(spec, file) {
  const base = join(dirname(file), spec.replace(/\.(ts|js)$/, ''));
  if (existsSync(`${base}.d.ts`)) return `${spec.replace(/\.(ts|js)$/, '')}.js`;
  if (existsSync(join(base, 'index.d.ts'))) return `${spec.replace(/\/$/, '')}/index.js`;
  throw new Error(`${relative('.', file)}: import "${spec}" names no declaration file`);
}

// `from './x'`, `import('./x')` and `import './x'` with a relative specifier (tsc writes `import("..")` too).
const IMPORT = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.\.?(?:\/[^'"]*)?)\2/g;
let changed = 0;
for (const file of declarations(root)) {
  const text = readFileSync(file, 'utf8');
  const out = text.replace(IMPORT, (_, lead, q, spec) => `${lead}${q}${withExtension(spec, file)}${q}`);
  if (out !== text) {
    writeFileSync(file, out);
    changed++;
  }
}
process.stdout.write(`dts-extensions: ${changed} declaration files updated under ${root}/\n`);
