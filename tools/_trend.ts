/**
 * The soak's verdict on memory, mappings and descriptors: a trend over many samples, never two
 * points. The first quarter of the samples (the warm-up: V8's heap and JIT settle) is left out;
 * over the rest, each measure's growth is the least-squares slope across the window. It is
 * "flat" when RSS grows less than 32 MB, mappings fewer than 16 and descriptors not at all; with
 * fewer than {@link MIN_SAMPLES} samples after the warm-up it is not judged.
 *
 * @module
 */

/** One sample of a process. */
export interface Sample {
  rssMB: number;
  maps: number;
  fds: number;
}

/** Samples needed after the warm-up for a verdict. */
export const MIN_SAMPLES = 8;

const LIMITS: Record<keyof Sample, number> = { rssMB: 32, maps: 16, fds: 1 };

/** The growth of `values` over their span, from the least-squares line through them. */
export function growth(values: number[]): number {
  const n = values.length;
  if (n < 2) return 0;
  const meanX = (n - 1) / 2;
  const meanY = values.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (i - meanX) * (values[i] - meanY);
    den += (i - meanX) ** 2;
  }
  return (num / den) * (n - 1);
}

/** The verdict on one process's samples, in order: see the module's notes. */
export function verdict(
  samples: Sample[],
): { judged: boolean; grew: string[]; text: string } {
  const window = samples.slice(Math.floor(samples.length / 4));
  if (window.length < MIN_SAMPLES) {
    return {
      judged: false,
      grew: [],
      text: `not judged: ${window.length} samples after the warm-up, ${MIN_SAMPLES} needed ` +
        `(run longer)`,
    };
  }
  const grew: string[] = [];
  const parts: string[] = [];
  for (const key of Object.keys(LIMITS) as (keyof Sample)[]) {
    const g = growth(window.map((s) => s[key]));
    parts.push(`${key} ${g >= 0 ? "+" : ""}${g.toFixed(key === "rssMB" ? 1 : 0)}`);
    if (g >= LIMITS[key]) grew.push(key);
  }
  const trend = `over ${window.length} samples: ${parts.join(", ")}`;
  return {
    judged: true,
    grew,
    text: grew.length ? `grew (${trend})` : `flat (${trend})`,
  };
}
