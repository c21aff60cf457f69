/**
 * Chat templates come with downloaded models, so they are untrusted code: a template that
 * loops for ever (`{% for i in range(100000000) %}`) or doubles a string forty times must not
 * hang or exhaust the page. @huggingface/jinja has no limits of its own, so rendering runs under
 * a budget: evaluation steps, wall time, the length of any value, and range() sizes. Past it,
 * rendering stops with TokenizerError.
 */
import { Environment, Interpreter, Template } from '@huggingface/jinja';
import { TokenizerError } from '../errors';

export const chatTemplateBudget = {
  /** Template nodes evaluated per render (a long conversation in a real template takes a few thousand). */
  maxSteps: 1_000_000,
  /** Wall time per render. */
  maxMs: 2000,
  /** Characters of any value, the output included. */
  maxChars: 4 * 1024 * 1024,
  /** Items of one range(). */
  maxRange: 100_000,
};

/** The render in progress (rendering is synchronous, so there is at most one). */
let active: { steps: number; t0: number } | null = null;

function overBudget(what: string): never {
  throw new TokenizerError(`tokenizer_config.json chat_template exceeded its budget (${what}); the template loops or grows without bound`);
}

// The one place that sees every evaluation: Interpreter.evaluate, wrapped once. Outside a
// budgeted render (other users of the library in the same page) it only forwards.
type Evaluate = (this: Interpreter, ...args: unknown[]) => { value?: unknown };
const proto = Interpreter.prototype as unknown as { evaluate: Evaluate };
const evaluate = proto.evaluate;
proto.evaluate = function (this: Interpreter, ...args: unknown[]) {
  const b = active;
  if (b && ++b.steps % 4096 === 0) {
    if (b.steps > chatTemplateBudget.maxSteps) overBudget(`more than ${chatTemplateBudget.maxSteps} evaluation steps`);
    if (performance.now() - b.t0 > chatTemplateBudget.maxMs) overBudget(`more than ${chatTemplateBudget.maxMs} ms`);
  }
  const r = evaluate.apply(this, args);
  if (b && typeof r?.value === 'string' && r.value.length > chatTemplateBudget.maxChars) overBudget(`a value longer than ${chatTemplateBudget.maxChars} characters`);
  return r;
};

/** Python's range() with the size bounded before anything is allocated. */
function boundedRange(start: number, stop?: number, step = 1): number[] {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new Error('range() step must not be zero');
  const n = Math.max(0, Math.ceil((stop - start) / step));
  if (n > chatTemplateBudget.maxRange) overBudget(`range() of ${n} items, more than ${chatTemplateBudget.maxRange}`);
  return Array.from({ length: n }, (_, i) => start + i * step);
}

// The library's range() allocates its whole list first, and a template's globals cannot be
// replaced through render()'s variables; the global is swapped where it is declared.
type EnvSet = (this: Environment, name: string, value: unknown) => unknown;
const envProto = Environment.prototype as unknown as { set: EnvSet };
const set = envProto.set;
envProto.set = function (this: Environment, name: string, value: unknown) {
  return set.call(this, name, active && name === 'range' ? boundedRange : value);
};

/** Renders `template` with `vars`; TokenizerError when it fails or exceeds the budget. */
export function renderChatTemplate(template: string, vars: Record<string, unknown>): string {
  if (active) throw new TokenizerError('chat templates cannot render inside one another');
  active = { steps: 0, t0: performance.now() };
  try {
    return new Template(template).render(vars);
  } catch (e) {
    if (e instanceof TokenizerError) throw e;
    throw new TokenizerError(`tokenizer_config.json chat_template failed to render: ${(e as Error).message}`, { cause: e });
  } finally {
    active = null;
  }
}
