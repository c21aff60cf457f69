/** The demo page as the e2e tests drive it: its controls by test id, and waits on what it reports. */
import { expect, type Page } from 'playwright/test';

export class DemoPage {
  constructor(readonly page: Page) {}

  /** Opens the page and waits until the bundled model (loaded automatically) is ready. */
  async openWithBundledModel(): Promise<void> {
    // The worker's console errors are the only trace of a failure inside it; keep them in the test log.
    this.page.on('console', (m) => {
      if (m.type() === 'error') console.log(`[page] ${m.text()}`);
    });
    await this.page.goto('./');
    await expect(this.page.getByTestId('gpu-status')).toHaveAttribute('data-ok', 'true');
    await expect(this.page.getByTestId('load-error')).toBeHidden();
    await expect(this.page.getByTestId('model-info')).toHaveAttribute('data-loaded', /bundled/);
  }

  /** Loads the model of the source currently selected and waits until it is ready or has failed. */
  async loadSelected(label: RegExp): Promise<void> {
    const button = this.page.getByTestId('load');
    await button.click();
    // The button is disabled from the click until the load has succeeded or failed.
    await expect(button).toBeEnabled();
    const error = this.page.getByTestId('load-error');
    expect(await error.isVisible(), (await error.textContent()) ?? '').toBe(false);
    await expect(this.page.getByTestId('model-info')).toHaveAttribute('data-loaded', label);
  }

  async settings(s: { strategy?: string; maxTokens?: number; temperature?: number; seed?: number }): Promise<void> {
    if (s.strategy !== undefined) await this.page.getByTestId('strategy').selectOption(s.strategy);
    if (s.maxTokens !== undefined) await this.page.getByTestId('max-tokens').fill(String(s.maxTokens));
    if (s.temperature !== undefined) await this.page.getByTestId('temperature').fill(String(s.temperature));
    if (s.seed !== undefined) await this.page.getByTestId('seed').fill(String(s.seed));
  }

  /** The speculative strategy the page picked by default (never 'ar'). */
  async defaultStrategy(): Promise<string> {
    const value = await this.page.getByTestId('strategy').inputValue();
    expect(value).not.toBe('ar');
    return value;
  }

  /** Clicks Generate and waits for the run to end; returns the streamed text. */
  async generate(): Promise<string> {
    await this.page.getByTestId('run').click();
    await this.waitDone('pane-main');
    return this.text('output');
  }

  async waitDone(pane: 'pane-main' | 'pane-ar'): Promise<void> {
    await expect(this.page.getByTestId(pane)).toHaveAttribute('data-state', /done|failed/);
    // On failure, fail now with the page's message rather than after a long wait.
    const error = this.page.getByTestId('gen-error');
    expect(await error.isVisible(), await error.textContent() ?? '').toBe(false);
    expect(await this.page.getByTestId(pane).getAttribute('data-state')).toBe('done');
  }

  async text(testId: string): Promise<string> {
    return (await this.page.getByTestId(testId).textContent()) ?? '';
  }

  /** A statistic of a pane ('stats' or 'stats-ar') by its first word: tokens, tau, finish, ... */
  async stat(statsId: string, key: string): Promise<string> {
    return (await this.page.getByTestId(statsId).locator(`dd[data-stat="${key}"]`).textContent()) ?? '';
  }
}
