/**
 * Plain decoding encoded ahead (DESIGN section 8: "where the next step's inputs are on the GPU,
 * keep the step state there and encode ahead, reading results behind"). Step t's command buffer
 * ends with two copies of its token: one into a mappable ring slot for the CPU, one into the
 * token buffer the next pass embeds. Greedy, the token is the pass's argmax (row 0, column 0 of
 * the top-k ids); sampled (no repetition penalty), the bonus that the sampling walk draws from
 * the root's distribution with one uniform, the next of the request's Rng: a step read before
 * the next peeks and consumes exactly that one too, so a seed gives the same tokens at every
 * depth. So the CPU submits step t+1 (up to `depth` passes in flight) before it has mapped step
 * t's slot, and reads the tokens back in order, one small map per step.
 *
 * The rest of the step state the CPU knows ahead without reading anything: a plain step commits
 * exactly one slot, so pass t+j runs at position n-1+j with kv.length = n-1+j committed slots;
 * forward() writes those words (positions, Step uniform) with queue.writeBuffer, which the queue
 * orders between the submits, so no GPU-side state is needed for them.
 *
 * Each pass commits its row at once (kv.length runs ahead of the tokens read). finish() drops
 * the passes still in flight: their slots are freed unread and the cache forgets what they
 * committed, leaving kv.length = committed tokens - 1 as one-step-at-a-time decoding leaves it
 * (DESIGN section 3: the last token is the next root). A dropped pass wrote only slots at or
 * beyond that length, which the next pass to commit them rewrites.
 */
import type { GpuModel } from '../model/gpu-model';
import { ReadbackRing } from '../gpu/readback';
import { OptionsError } from '../errors';
import { MAX_STEPS_AHEAD } from './options';
import { checkBonus } from '../verify/accept';
import type { StepOutcome } from './verify-step';
import type { GpuAcceptWalk } from '../verify/gpu-walk';
import type { SamplingOptions } from '../verify/sampler';
import type { Rng } from '../verify/rng';

/** (1, 4) u32: the one row sees its own slot (bit 0). */
const ROOT_MASK = Uint32Array.of(1, 0, 0, 0);
/** The commit path of a plain pass: its one row. */
const ROOT_PATH = Int32Array.of(0);

/** One ring of 4-byte slots per model (MAX_STEPS_AHEAD: the most passes in flight), allocated at the first use and destroyed with the model. */
const rings = new WeakMap<GpuModel, ReadbackRing>();

function ringOf(model: GpuModel): ReadbackRing {
  let ring = rings.get(model);
  if (!ring) {
    ring = new ReadbackRing(model.device, 'ahead.readback', 4, model.counter, MAX_STEPS_AHEAD);
    model.attach(ring);
    rings.set(model, ring);
  }
  return ring;
}

/**
 * Plain sampled decoding encoded ahead: each pass's sampling walk draws the token from the root's
 * distribution with one uniform, the next of `rng` (one step at a time peeks and consumes it the
 * same way, so a seed gives the same tokens for every depth). No repetition penalty.
 */
export interface AheadSampling {
  walk: GpuAcceptWalk;
  options: SamplingOptions;
  rng: Rng;
}

/** Whether plain decoding can hand each pass's token to the next pass on the GPU: its ids are token ids. */
export function canDecodeAhead(model: GpuModel): boolean {
  return model.outVocab === model.config.vocabSize;
}

export class AheadDecoder {
  private readonly ring: ReadbackRing;
  /** Ring slots of the passes in flight, oldest first. */
  private readonly inFlight: number[] = [];
  /** Position of the next pass to submit. */
  private position: number;
  /** Slots committed for the tokens read so far: committed tokens - 1 (the cache's length one step at a time). */
  private readLength: number;
  /** The first pass's root (the last prompt token), from the CPU; -1 once later roots come from the GPU. */
  private root: number;
  private readonly word = new Int32Array(1);

  /**
   * Decoding after `committed` tokens, with kv.length = committed.length - 1 (the last token is
   * the root); greedy, or with `sample` (no repetition penalty) each pass's token drawn by the
   * sampling walk with the next uniform of the request's Rng.
   */
  constructor(
    private readonly model: GpuModel,
    readonly depth: number,
    committed: Int32Array,
    private readonly sample?: AheadSampling,
  ) {
    this.ring = ringOf(model);
    this.position = committed.length - 1;
    this.readLength = this.position;
    this.root = committed[committed.length - 1];
  }

  /**
   * The next step's outcome (its token as the bonus of an empty tree): tops the flight up to
   * `depth` passes, but to no more than `budget` passes from the one this call reads (the steps
   * that may still run: max tokens, context), then waits for the oldest pass's argmax. Throws
   * ModelError, as a verify step does, when that pass's logits were not finite.
   */
  async next(budget: number): Promise<StepOutcome> {
    while (this.inFlight.length < Math.min(this.depth, budget)) this.submit();
    const slot = this.inFlight.shift();
    if (slot === undefined) throw new OptionsError(`AheadDecoder.next: budget ${budget}, expected at least 1 step`);
    const bonus = (await this.ring.read(slot, this.word))[0];
    checkBonus(bonus, this.model.outVocab, this.readLength);
    this.readLength++;
    return { nodes: new Int32Array(0), bonus, topK: new Int32Array(0), k: 0 };
  }

  /**
   * Drops the passes in flight and sets kv.length to the committed tokens - 1 (see the header):
   * a step whose token was not read (an error, a ModelError) is not committed, as in verifyTree.
   */
  finish(): void {
    if (this.position === this.readLength) return; // nothing submitted (e.g. aborted before the prefill)
    for (const slot of this.inFlight.splice(0)) this.ring.discard(slot);
    this.model.truncate(this.readLength);
  }

  private submit(): void {
    const model = this.model;
    const { tokens } = model.passInputs();
    // the pass's token: its argmax (row 0, column 0 of the top-k ids), or the bonus the sampling walk drew (result word 1)
    const token = this.sample ? { buffer: this.sample.walk.gpuBuffers().result, offset: 4 } : { buffer: model.passOutputs().topKIds, offset: 0 };
    let slot = -1;
    const onGpu = this.root < 0;
    model.forward(Int32Array.of(onGpu ? 0 : this.root), Int32Array.of(this.position), ROOT_MASK, {
      // the sampling walk reads column 0 of the top-k (its guard)
      topK: this.sample !== undefined,
      tokensOnGpu: onGpu,
      after: (encoder) => {
        if (this.sample) this.sample.walk.encodeSampleRoot(encoder, this.sample.options, this.sample.rng.nextU32());
        slot = this.ring.copy(encoder, token.buffer, token.offset, 4);
        // the next pass's root, handed over without a round trip
        encoder.copyBufferToBuffer(token.buffer, token.offset, tokens, 0, 4);
      },
    });
    model.commit(ROOT_PATH);
    this.root = -1;
    this.position++;
    this.inFlight.push(slot);
  }
}
