/**
 * Builds the benchmark prompt suite public/bench/prompts.jsonl from held-out text only:
 *   - stories and story documents: ../shared/corpus/tinystories-valid-head.txt (validation
 *     split; the fixture models never train on it, see tools/fixtures/tokenize.mjs);
 *   - code: the last 5% of the modules of python-stdlib.txt, the part tokenize.mjs holds out;
 *   - other documents: Austen and Twain, which no fixture model trains on.
 * The text is copied into the JSONL (with its source), so the corpus is never a runtime
 * dependency of the benchmark. Run: npx tsx tools/bench-prompts.ts [corpusDir] [outFile]
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { BenchPrompt } from '../bench/types';

const repo = resolve(dirname(new URL(import.meta.url).pathname), '..');
const corpusDir = resolve(process.argv[2] ?? join(repo, '../shared/corpus'));
const outFile = resolve(process.argv[3] ?? join(repo, 'public/bench/prompts.jsonl'));
const read = (f: string) => readFileSync(join(corpusDir, f), 'utf8');

/** Stories of the validation head: a story starts at a paragraph beginning "Once upon a time". */
function validStories(): string[] {
  const paras = read('tinystories-valid-head.txt').split(/\n\s*\n/).map((s) => s.trim()).filter(Boolean);
  const stories: string[][] = [];
  for (const p of paras) {
    if (p.startsWith('Once upon a time')) stories.push([p]);
    else if (stories.length) stories[stories.length - 1].push(p);
  }
  return stories.map((s) => s.join('\n\n'));
}

/** The held-out code modules: the same split as tools/fixtures/tokenize.mjs (last 5% by characters). */
function heldOutModules(): Map<string, string> {
  const docs = read('python-stdlib.txt').split(/(?=^# ===== file: )/m).map((s) => s.replace(/\s+$/, '') + '\n').filter((s) => s.trim().length > 0);
  const total = docs.reduce((n, d) => n + d.length, 0);
  let acc = 0;
  let cut = docs.length;
  while (cut > 0 && acc + docs[cut - 1].length <= total * 0.05) acc += docs[--cut].length;
  const out = new Map<string, string>();
  for (const d of docs.slice(cut)) out.set(/^# ===== file: (\S+) =====/.exec(d)![1], d);
  return out;
}

/** Lines [from anchor - before, anchor + after) of a module, the anchor being the first line containing `anchor`. */
function codeWindow(mod: string, anchor: string, before: number, after: number): string {
  const lines = mod.split('\n');
  const i = lines.findIndex((l) => l.includes(anchor));
  if (i < 0) throw new Error(`anchor "${anchor}" not found`);
  return lines.slice(Math.max(0, i - before), i + after).join('\n') + '\n';
}

/** The first n sentences of a text. */
function sentences(text: string, n: number): string {
  const parts = text.match(/[^.!?]+[.!?]+["']?\s*/g) ?? [text];
  return parts.slice(0, n).join('').trim();
}

/** A paragraph of a long book, found by a phrase it contains. */
function paragraphWith(file: string, phrase: string): string {
  const p = read(file).split(/\r?\n\s*\r?\n/).find((s) => s.includes(phrase));
  if (!p) throw new Error(`"${phrase}" not found in ${file}`);
  return p.replace(/\s*\r?\n\s*/g, ' ').trim();
}

const stories = validStories();
const code = heldOutModules();
const mod = (name: string) => {
  const m = code.get(name);
  if (!m) throw new Error(`${name} is not among the held-out modules: ${[...code.keys()].join(', ')}`);
  return m;
};
// The first prompt of each category is short and typical of it: `npm run bench` with its
// default --limit 1 runs only those.
const prompts: BenchPrompt[] = [];
const add = (p: BenchPrompt) => prompts.push(p);

// Stories: the opening sentences of validation stories; the model continues the story.
for (const [k, n] of [[0, 2], [4, 3], [13, 3], [18, 3], [30, 2]] as const) {
  add({ id: `story-${k}`, category: 'stories', prompt: sentences(stories[k], n), source: `tinystories-valid-head.txt story ${k}` });
}

// Code: windows of held-out modules ending inside a function, class or table. Prompts are
// kept short (about 100-250 tokens): prefill on a software GPU is slow.
const codeSpecs: [string, string, number, number][] = [
  ['Lib/imaplib.py', 'def login(self, user, password):', 0, 9],
  ['Lib/http/cookies.py', 'class Morsel(dict):', 0, 12],
  ['Lib/http/server.py', 'def send_response(self, code, message=None):', 2, 10],
  ['Lib/imp.py', 'def find_module(name, path=None):', 0, 11],
  ['Lib/importlib/__init__.py', 'def import_module(name, package=None):', 0, 12],
];
for (const [file, anchor, before, after] of codeSpecs) {
  add({ id: `code-${file.replace(/^Lib\//, '').replace(/\W+/g, '-')}`, category: 'code', prompt: codeWindow(mod(file), anchor, before, after), source: `python-stdlib.txt ${file} (held out)` });
}

// Document-grounded: a document, then a prompt whose answer copies from it. The document is
// both in the prompt (as a reader would paste it) and in `documents` (for retrieval drafters).
const docStories = [37, 1, 3, 10];
for (const k of docStories) {
  const doc = stories[k];
  const first = sentences(doc, 1);
  add({
    id: `doc-story-${k}`,
    category: 'document',
    prompt: `${doc}\n\nHere is the same story again, word for word:\n\n${first}`,
    documents: [doc],
    source: `tinystories-valid-head.txt story ${k}`,
  });
}
{
  const doc = sentences(paragraphWith('twain-books.txt', 'Tom appeared on the sidewalk with a bucket of whitewash'), 3);
  add({ id: 'doc-twain-fence', category: 'document', prompt: `${doc}\n\nQuote the first sentence of the passage above.\n\nTom appeared on the sidewalk`, documents: [doc], source: 'twain-books.txt (Tom Sawyer, chapter 2)' });
}
{
  const doc = paragraphWith('austen-novels.txt', 'It is a truth universally acknowledged');
  add({ id: 'doc-austen-truth', category: 'document', prompt: `${doc}\n\nRepeat the passage above exactly.\n\nIt is a truth`, documents: [doc], source: 'austen-novels.txt (Pride and Prejudice, chapter 1)' });
}

// Multi-turn / repetitive: later turns repeat earlier ones, or the text is a repeated pattern.
{
  const qa = [3, 7, 9, 25].map((k) => {
    const s = sentences(stories[k], 1).replace(/^Once upon a time, /, '');
    return `Q: Tell me about the story.\nA: ${s[0].toUpperCase()}${s.slice(1)}`;
  });
  add({ id: 'turns-qa', category: 'multiturn', prompt: `${qa.join('\n')}\nQ: Tell me about the story.\nA:`, source: 'tinystories-valid-head.txt stories 3, 7, 9, 25' });
}
{
  const s = sentences(stories[2], 3);
  add({ id: 'turns-retell', category: 'multiturn', prompt: `User: Tell me a story.\nAssistant: ${s}\nUser: Tell it again, please.\nAssistant: ${s}\nUser: One more time!\nAssistant:`, source: 'tinystories-valid-head.txt story 2' });
}
{
  const s = stories[27].split('\n\n')[0];
  add({ id: 'turns-ants', category: 'multiturn', prompt: `${s}\n\n${s}\n\n`, source: 'tinystories-valid-head.txt story 27, twice' });
}
add({ id: 'repeat-imghdr-tests', category: 'multiturn', prompt: codeWindow(mod('Lib/imghdr.py'), 'def test_jpeg(h, f):', 0, 22), source: 'python-stdlib.txt Lib/imghdr.py (held out)' });
add({ id: 'repeat-extensions-map', category: 'multiturn', prompt: codeWindow(mod('Lib/http/server.py'), 'extensions_map = _encodings_map_default = {', 0, 4), source: 'python-stdlib.txt Lib/http/server.py (held out)' });

mkdirSync(dirname(outFile), { recursive: true });
writeFileSync(outFile, prompts.map((p) => JSON.stringify(p)).join('\n') + '\n');
const counts = new Map<string, number>();
for (const p of prompts) counts.set(p.category, (counts.get(p.category) ?? 0) + 1);
process.stdout.write(`wrote ${prompts.length} prompts to ${outFile}: ${[...counts].map(([c, n]) => `${c} ${n}`).join(', ')}\n`);
