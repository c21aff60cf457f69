import type { ProfileStats } from '../engine/stats';

/** The --profile breakdown as a text table: kernel, total ms, ms per token, share. */
export function profileTable(p: ProfileStats, generatedTokens: number): string {
  const total = Object.values(p.kernelMs).reduce((t, ms) => t + ms, 0);
  const lines = [`kernel time per token (${p.timing}): ${p.msPerToken.toFixed(2)} ms`, 'kernel          total ms   ms/token   share'];
  for (const [kernel, ms] of Object.entries(p.kernelMs)) {
    const perToken = generatedTokens > 0 ? ms / generatedTokens : 0;
    lines.push(`${kernel.padEnd(14)} ${ms.toFixed(2).padStart(9)} ${perToken.toFixed(3).padStart(10)} ${((100 * ms) / Math.max(total, 1e-9)).toFixed(1).padStart(6)}%`);
  }
  return `${lines.join('\n')}\n`;
}
