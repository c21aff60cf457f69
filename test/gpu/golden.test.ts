/**
 * Golden output of the shipped trained target: greedy decoding on the GPU reproduces the token
 * ids that PyTorch produced from the same f16 weights (public/models/golden.json), with plain
 * decoding and with speculative decoding.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { Engine } from '../../src/engine/engine';
import golden from '../../public/models/golden.json';
import { shippedModel } from './models';

interface GoldenCase { prompt: string; promptIds: number[]; greedyIds: number[]; text: string }

describe('shipped target (tinystories-target)', () => {
  const cases = (golden.models['tinystories-target'] as GoldenCase[]).slice(0, 2);
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(await shippedModel('tinystories-target'), { maxContext: 256 });
  });
  afterAll(() => engine?.destroy());

  it('encodes the golden prompts to the same ids', () => {
    for (const c of cases) expect(Array.from(engine.encodePrompt(c.prompt, { chat: false, addSpecialTokens: true }))).toEqual(c.promptIds);
  });

  for (const strategy of ['ar', 'auto']) {
    it(`greedy output with ${strategy} equals the stored golden ids and text`, async () => {
      for (const c of cases) {
        const { tokens, text } = await engine.generateText(Int32Array.from(c.promptIds), { maxTokens: golden.newTokens, strategy });
        expect(tokens).toEqual(c.greedyIds);
        expect(text).toBe(c.text);
      }
    });
  }
});
