/**
 * CPU time of indexing retrieval documents (src/engine/documents.ts: encodeLongText, then the
 * suffix array), with our BPE encoder and with @huggingface/tokenizers alone, on the same text;
 * checks that both give the same ids.
 *
 *   npx tsx tools/bench-documents.ts [--model DIR] [--mb 4] [--dir TEXTDIR]
 *
 * The text: by default this repository's own tracked text files (*.md, *.ts, *.wgsl, *.py,
 * *.mjs), cut into paragraphs at blank lines and shuffled with a fixed seed, the shuffled list
 * repeated (reshuffled) until --mb MiB; with --dir, the *.txt files of TEXTDIR in name order
 * (e.g. /usr/share/vim/vim90/doc, Vim's manual: English prose with many distinct words).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { Tokenizer } from '../src/tokenizer/tokenizer';
import { encodeLongText, type Encoder } from '../src/tokenizer/long-text';
import { Datastore } from '../src/draft/datastore';
import { Rng } from '../src/verify/rng';

const { values: args } = parseArgs({ options: { model: { type: 'string', default: 'public/models/tinystories-target' }, mb: { type: 'string', default: '4' }, dir: { type: 'string' } } });
const chars = Math.round(Number(args.mb) * 1048576);

function repoText(): string {
  const files = execFileSync('git', ['ls-files'], { encoding: 'utf8' }).split('\n').filter((f) => /\.(md|ts|wgsl|py|mjs)$/.test(f));
  const paras = files.flatMap((f) => readFileSync(f, 'utf8').split(/\n\s*\n/)).filter((p) => p.trim());
  const rng = new Rng(7);
  const out: string[] = [];
  for (let n = 0; n < chars; ) {
    const order = paras.map((p) => [rng.next(), p] as const).sort((a, b) => a[0] - b[0]);
    for (const [, p] of order) {
      out.push(p);
      if ((n += p.length + 2) >= chars) break;
    }
  }
  return out.join('\n\n').slice(0, chars);
}

function dirText(dir: string): string {
  let t = '';
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.txt')).sort()) {
    t += readFileSync(join(dir, f), 'utf8') + '\n';
    if (t.length >= chars) break;
  }
  return t.slice(0, chars);
}

const cpuMs = (since: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(since);
  return Math.round((d.user + d.system) / 1000);
};

const text = args.dir ? dirText(args.dir) : repoText();
const tokJson = JSON.parse(readFileSync(join(args.model, 'tokenizer.json'), 'utf8'));
const tokConfig = JSON.parse(readFileSync(join(args.model, 'tokenizer_config.json'), 'utf8'));
const ours = Tokenizer.fromFiles(tokJson, tokConfig);
const hf = new HfTokenizer(tokJson, tokConfig);
const library: Encoder = { encode: (s, o) => Int32Array.from(hf.encode(s, { add_special_tokens: o.addSpecialTokens ?? true }).ids) };
const words = new Set(text.split(/\s+/)).size;
console.log(`text: ${args.dir ?? 'repository files, shuffled paragraphs'}: ${text.length} characters, ${words} distinct space-separated words; tokenizer ${args.model} (${ours.encoder})`);

const results: Int32Array[] = [];
for (const [name, enc] of [['ours', ours], ['library', library]] as const) {
  const t0 = process.cpuUsage();
  const w0 = performance.now();
  const ids = encodeLongText(enc, text);
  console.log(`${name}: tokenize ${cpuMs(t0)} ms CPU (${Math.round(performance.now() - w0)} ms wall), ${ids.length} tokens`);
  results.push(ids);
}
const same = results[0].length === results[1].length && results[0].every((v, i) => v === results[1][i]);
console.log(`ids equal: ${same}`);
const t1 = process.cpuUsage();
Datastore.build([results[0]]);
console.log(`suffix array: ${cpuMs(t1)} ms CPU`);
if (!same) process.exitCode = 1;
