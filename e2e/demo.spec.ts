/**
 * The built demo in headless Chromium's WebGPU, end to end: the bundled model loads in the
 * engine worker, speculative and plain greedy decoding produce the same text, statistics and
 * the per-pass chart appear, Stop ends a generation, a picked folder loads the same model,
 * the picker lists a checkpoint per supported family with memory.ts's sizes, the cache view
 * lists and clears the downloads, and a bad model URL is reported while the page keeps
 * generating with the model it had.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'playwright/test';
import { DemoPage } from './demo-page';
import { withViteModules } from './vite-modules';
import type * as Catalog from '../demo/model-catalog';
import type * as Memory from '../src/model/memory';
import type * as Config from '../src/model/config';
import { formatBytes } from '../demo/dom';
import { isSoftwareAdapterInfo } from '../src/gpu/adapter';

/** The bundled target as a folder on disk, for the folder picker. */
const MODEL_DIR = fileURLToPath(new URL('../public/models/tinystories-target', import.meta.url));

test('without WebGPU the page says so and stays usable', async ({ page }) => {
  await page.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined }));
  await page.goto('./');
  const banner = page.getByTestId('gpu-status');
  await expect(banner).toHaveAttribute('data-ok', 'false');
  await expect(banner).toContainText('WebGPU is not available');
  await expect(page.getByTestId('load')).toBeEnabled();
});

test.describe('with the bundled model', () => {
  test.describe.configure({ mode: 'serial' });
  let demo: DemoPage;

  test.beforeAll(async ({ browser }) => {
    demo = new DemoPage(await browser.newPage());
    await demo.openWithBundledModel();
  });

  test.afterAll(async () => {
    await demo.page.close();
  });

  test('every model file of the bundled pair shows a finished progress bar and sits in the browser cache', async () => {
    const files = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];
    for (const f of files) {
      await expect(demo.page.locator(`[data-file="${f}"]`)).toContainText('✓');
      await expect(demo.page.locator(`[data-file="draft/${f}"]`)).toContainText('✓');
      await expect(demo.page.getByTestId('cache-list')).toContainText(`models/tinystories-target/${f}`);
      await expect(demo.page.getByTestId('cache-list')).toContainText(`models/tinystories-draft/${f}`);
    }
  });

  test('the bundled draft model drafts: greedy text equals ar and drafts are accepted', async () => {
    await demo.settings({ strategy: 'ar', maxTokens: 16, temperature: 0 });
    const ar = await demo.generate();
    await demo.settings({ strategy: 'draft', maxTokens: 16, temperature: 0 });
    expect(await demo.generate()).toBe(ar);
    // The aligned draft agrees with the target on most tokens: more than one token per pass.
    expect(Number(await demo.stat('stats', 'tau'))).toBeGreaterThan(1.5);
  });

  test('speculative and ar greedy outputs are equal, side by side, with stats and a screenshot', async ({}, testInfo) => {
    const strategy = await demo.defaultStrategy();
    await demo.settings({ maxTokens: 32, temperature: 0 });
    await demo.page.getByTestId('run-both').click();
    await demo.waitDone('pane-ar');
    await demo.waitDone('pane-main');

    const ar = await demo.text('output-ar');
    const spec = await demo.text('output');
    expect(ar.length).toBeGreaterThan(0);
    expect(spec).toBe(ar);
    await expect(demo.page.getByTestId('speedup')).toContainText('Outputs identical.');

    expect(await demo.stat('stats-ar', 'strategy')).toBe('ar');
    expect(await demo.stat('stats', 'strategy')).toBe(strategy);
    expect(Number(await demo.stat('stats', 'tokens/s'))).toBeGreaterThan(0);
    expect(Number(await demo.stat('stats', 'tau'))).toBeGreaterThanOrEqual(1);
    // Plain decoding makes exactly one token per target pass.
    expect(Number(await demo.stat('stats-ar', 'tau'))).toBe(1);
    expect(Number(await demo.page.getByTestId('chart').getAttribute('data-steps'))).toBeGreaterThan(0);

    // A stable path (test-results/demo-side-by-side.png) so reports can link the artifact.
    const shot = join(testInfo.project.outputDir, 'demo-side-by-side.png');
    await demo.page.screenshot({ path: shot, fullPage: true });
    await testInfo.attach('demo-side-by-side', { path: shot, contentType: 'image/png' });
  });

  test('an always-drafting strategy (random) gives the same greedy text and draws its last draft tree', async () => {
    const ar = await demo.text('output-ar');
    await demo.settings({ strategy: 'random', maxTokens: 32, temperature: 0 });
    // Random drafts are almost always rejected: the target's bonus tokens carry the text alone.
    expect(await demo.generate()).toBe(ar);
    expect(await demo.stat('stats', 'finish')).toMatch(/length|eos/);
    expect(Number(await demo.page.getByTestId('chart').getAttribute('data-drafted'))).toBeGreaterThan(0);
    const tree = demo.page.getByTestId('tree');
    await expect(tree.locator('svg .tree-node.root')).toHaveCount(1);
    await expect(tree.locator('svg .tree-node.bonus')).toHaveCount(1);
    await expect(tree).toHaveAttribute('data-accepted', /^\d+$/);
  });

  test('Stop ends a generation early', async () => {
    await demo.settings({ strategy: 'ar', maxTokens: 400 });
    await demo.page.getByTestId('run').click();
    await expect(demo.page.getByTestId('output')).not.toBeEmpty();
    await demo.page.getByTestId('stop').click();
    await demo.waitDone('pane-main');
    expect(await demo.stat('stats', 'finish')).toBe('aborted');
    expect(parseInt(await demo.stat('stats', 'tokens'), 10)).toBeLessThan(400);
    await expect(demo.page.getByTestId('run')).toBeEnabled();
  });

  test('the picker lists every family with its download and memory estimate, and an entry fills the hub id and its draft', async () => {
    const page = demo.page;
    const picker = page.getByTestId('catalog');
    const [{ CATALOG }, { estimateMemory, parameterCount }, { parseConfig }] = (await withViteModules(
      ['demo/model-catalog.ts', 'src/model/memory.ts', 'src/model/config.ts'], (m) => m)) as [typeof Catalog, typeof Memory, typeof Config];
    await page.locator('#weight-dtype').selectOption('q4');
    // the page re-renders the list synchronously on the change: no long wait
    await expect(picker).toHaveAttribute('data-dtype', 'q4', { timeout: 10_000 });
    const families = await picker.locator('option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).dataset.family ?? 'bundled'));
    expect(families).toEqual(['bundled', ...CATALOG.map((e) => String(e.config.model_type))]);
    expect(new Set(families)).toEqual(new Set(['bundled', 'llama', 'qwen2', 'qwen3', 'gemma3_text', 'gemma2', 'phi3', 'smollm3', 'mistral']));

    // Qwen3-0.6B at q4, as Engine.load would estimate it on this adapter: default context
    // min(40960, 2048), 128 rows, the top-k sliced as this adapter prefers
    const info = await page.evaluate(async () => {
      const i = (await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' }))!.info;
      return { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description };
    });
    const qwen3 = parseConfig(CATALOG.find((e) => e.id === 'Qwen/Qwen3-0.6B')!.config);
    const memory = estimateMemory(qwen3, { dtype: 'q4', maxContext: 2048, maxRows: 128, topKSlice: isSoftwareAdapterInfo(info as GPUAdapterInfo) ? Infinity : 2048 }).total;
    const option = picker.locator('option[value="Qwen/Qwen3-0.6B"]');
    await expect(option).toHaveAttribute('data-memory', String(memory));
    await expect(option).toHaveAttribute('data-download', String(2 * parameterCount(qwen3)));
    await expect(option).toHaveText(`Qwen3-0.6B (qwen3): ${formatBytes(2 * parameterCount(qwen3))} download, needs ${formatBytes(memory)} at q4, context 2048`);
    // Phi-4-mini (partial rotary) is sized like the others: its 96-wide RoPE table is in the estimate
    const phi4 = parseConfig(CATALOG.find((e) => e.id === 'microsoft/Phi-4-mini-instruct')!.config);
    const phi4Option = picker.locator('option[value="microsoft/Phi-4-mini-instruct"]');
    await expect(phi4Option).not.toHaveAttribute('data-unsupported');
    await expect(phi4Option).toHaveAttribute('data-memory', String(estimateMemory(phi4, { dtype: 'q4', maxContext: 2048, maxRows: 128, topKSlice: isSoftwareAdapterInfo(info as GPUAdapterInfo) ? Infinity : 2048 }).total));

    // an entry fills the hub id and its draft; the bundled entry goes back to the bundled pair
    await picker.selectOption('HuggingFaceTB/SmolLM2-360M-Instruct');
    await expect(page.getByLabel('Hugging Face model id')).toBeChecked();
    await expect(page.getByTestId('hub-target')).toHaveValue('HuggingFaceTB/SmolLM2-360M-Instruct');
    await expect(page.getByTestId('hub-draft')).toHaveValue('HuggingFaceTB/SmolLM2-135M-Instruct');
    await page.locator('#weight-dtype').selectOption('f16');
  });

  test('a picked local folder loads and gives the same greedy text as the bundled model, loaded again from the picker', async () => {
    await demo.page.getByLabel('Local folder').check();
    await demo.page.getByTestId('folder-target').setInputFiles(MODEL_DIR);
    await demo.loadSelected(/folder tinystories-target/);
    await demo.settings({ strategy: 'ar', maxTokens: 12, temperature: 0 });
    const folder = await demo.generate();
    // the picker's bundled entry (after another one) goes back to the bundled pair
    await demo.page.getByTestId('catalog').selectOption('Qwen/Qwen3-0.6B');
    await demo.page.getByTestId('catalog').selectOption('bundled');
    await expect(demo.page.getByRole('radio', { name: /Bundled/ })).toBeChecked({ timeout: 10_000 });
    await demo.loadSelected(/bundled/);
    await demo.settings({ strategy: 'ar', maxTokens: 12, temperature: 0 });
    expect(await demo.generate()).toBe(folder);
  });

  test('Clear empties the model cache', async () => {
    await demo.page.getByTestId('cache-clear').click();
    await expect(demo.page.getByTestId('cache-list')).toHaveText('Nothing cached yet.');
  });

  test('a Hugging Face id resolves to the hub, and a failing hub download is reported', async () => {
    const page = demo.page;
    const asked: string[] = [];
    // No network in tests (and no 700 MB download in CI): the hub answers 404 for every file.
    await page.context().route('https://huggingface.co/**', (route) => {
      asked.push(route.request().url());
      return route.fulfill({ status: 404, body: 'Entry not found' });
    });
    await page.getByLabel('Hugging Face model id').check();
    await page.getByTestId('url-base').fill('');
    await page.getByTestId('hub-target').fill('not a model id');
    await page.getByTestId('load').click();
    await expect(page.getByTestId('load-error')).toContainText('is not a Hugging Face model id');

    await page.getByTestId('hub-target').fill('HuggingFaceTB/SmolLM2-135M-Instruct');
    await page.getByTestId('load').click();
    await expect(page.getByTestId('load-error')).toContainText('ModelSourceError');
    expect(asked).toContain('https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct/resolve/main/config.json');
    await page.context().unroute('https://huggingface.co/**');
  });

  test('an invalid model URL shows an error and the page still generates', async () => {
    const page = demo.page;
    await page.getByLabel('Hugging Face model id').check();
    await page.getByTestId('url-base').fill('/models/no-such-model/');
    await page.getByTestId('load').click();
    const error = page.getByTestId('load-error');
    await expect(error).toBeVisible();
    await expect(error).toContainText('ModelSourceError');
    await expect(error).toContainText('404');
    await expect(page.getByTestId('model-info')).toContainText('previous model');

    await demo.settings({ strategy: 'ar', maxTokens: 8 });
    expect((await demo.generate()).length).toBeGreaterThan(0);
  });
});
