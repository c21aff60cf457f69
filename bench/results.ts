/** The benchmark's output file (results.json): configuration, raw runs and their summary. */
import { summarize, type Summary } from './summary';
import type { RunnerResult, SuiteConfig } from './types';

export interface BenchReport {
  /** ISO time the run finished. */
  createdAt: string;
  /** The command line that produced it. */
  command: string;
  config: SuiteConfig;
  results: RunnerResult[];
  summary: Summary;
}

export function makeReport(command: string, config: SuiteConfig, results: RunnerResult[]): BenchReport {
  return { createdAt: new Date().toISOString(), command, config, results, summary: summarize(results) };
}

/** True when the run is a failure: an output differs from `ar`, a run threw, or a runner failed. */
export function failed(r: BenchReport): boolean {
  return r.summary.mismatches.length > 0 || r.summary.failedRuns.length > 0 || r.results.some((x) => x.errors.length > 0);
}
