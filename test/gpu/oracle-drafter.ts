/**
 * A test drafter that proposes, deterministically, the CPU reference's top-3 tokens below the
 * root and the top-2 below each of those: trees that the target partly accepts and partly
 * rejects at two depths, whatever the sampling.
 */
import type { Drafter, DraftContext } from '../../src/draft/drafter';
import type { DraftTree } from '../../src/tree/types';
import { ReferenceModel } from '../../src/model/reference';
import { topK } from '../../src/model/cpu-ops';

export class OracleTreeDrafter implements Drafter {
  readonly name = 'test-oracle';

  constructor(
    private readonly ref: ReferenceModel,
    private readonly vocab: number,
  ) {}

  propose(ctx: DraftContext, budget: number): DraftTree {
    const v = this.vocab;
    this.ref.truncate(0);
    const logits = this.ref.forward(ctx.tokens);
    const first = topK(logits.subarray((ctx.tokens.length - 1) * v), 3);
    const tokens: number[] = [];
    const parents: number[] = [];
    const firstNodes: number[] = [];
    for (const t of first) {
      if (tokens.length >= budget) break;
      firstNodes.push(tokens.length);
      tokens.push(t);
      parents.push(-1);
    }
    for (const node of firstNodes) {
      this.ref.truncate(ctx.tokens.length);
      const second = topK(this.ref.forward(Int32Array.of(tokens[node])), 2);
      for (const t of second) {
        if (tokens.length >= budget) break;
        tokens.push(t);
        parents.push(node);
      }
    }
    return { tokens: Int32Array.from(tokens), parents: Int32Array.from(parents), draft: { kind: 'deterministic' } };
  }

  observe(): void {}
  reset(): void {}
}
