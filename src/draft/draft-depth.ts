/**
 * How many levels the draft model's tree runs this step, grown on the GPU (src/draft/gpu-grow.ts)
 * or by ModelDrafter.propose() (src/draft/model-drafter.ts). On the GPU the CPU cannot see where
 * growth stops without a round trip, so every level it encodes costs a draft pass whether or not
 * its frontier is empty; on the CPU path every level is a dependent draft pass and a readback.
 * The depth is chosen from what the CPU already knows: how far the target accepted in earlier
 * steps.
 *
 * The rule is the "heuristic" schedule of assisted generation in Hugging Face transformers
 * (`num_assistant_tokens_schedule`): when the accepted path reached the deepest level run, the
 * next step runs 2 levels more; otherwise 1 level fewer; always within 1..maxDepth. It starts at
 * maxDepth (no evidence yet), so a draft whose long paths are accepted keeps its depth, and one
 * whose paths stop early (rejected, or its tree stops growing under the budget) sheds the levels
 * it does not use, one per step, and climbs back 2 per step once a path is accepted to the end.
 * The depth never changes which tokens are produced, only how many a step can accept.
 */
export class DraftDepth {
  /** Levels the next step runs (1..maxDepth). */
  levels: number;

  constructor(readonly maxDepth: number) {
    this.levels = maxDepth;
  }

  /** Levels a step with a node budget of `budget` runs: a tree of B nodes is at most B deep, so deeper levels could add no node. */
  levelsFor(budget: number): number {
    return Math.min(this.levels, budget);
  }

  /**
   * A step that ran `ran` levels accepted `accepted` nodes (its path's length). A step may run
   * fewer levels than chosen (a tree of B nodes is at most B deep, so a budget B < levels caps
   * it): a path accepted to the end of such a step says nothing of the levels it did not run.
   */
  observe(ran: number, accepted: number): void {
    this.levels = accepted >= ran ? Math.min(this.maxDepth, Math.max(this.levels, ran + 2)) : Math.max(1, this.levels - 1);
  }

  /** Back to maxDepth (a new generation's text owes nothing to the last one's acceptance). */
  reset(): void {
    this.levels = this.maxDepth;
  }
}
