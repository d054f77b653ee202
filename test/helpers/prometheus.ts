/** A strict reader of the Prometheus text exposition format (0.0.4), for tests of /metrics. */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/** Parses an exposition; throws on any line that is not valid. */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  const typed = new Map<string, string>();
  for (const [index, line] of text.split('\n').entries()) {
    if (line === '') continue;
    const where = `line ${index + 1} (${JSON.stringify(line)})`;
    if (line.startsWith('#')) {
      const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (meta === null || !METRIC_NAME.test(meta[2]!)) throw new Error(`bad comment at ${where}`);
      if (meta[1] === 'TYPE') {
        if (!TYPES.has(meta[3]!)) throw new Error(`bad type at ${where}`);
        if (typed.has(meta[2]!)) throw new Error(`TYPE given twice at ${where}`);
        typed.set(meta[2]!, meta[3]!);
      }
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( \d+)?$/.exec(line);
    if (sample === null) throw new Error(`bad sample at ${where}`);
    const labels: Record<string, string> = {};
    if (sample[3] !== undefined && sample[3] !== '') {
      const pairs = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/gy;
      let consumed = 0;
      for (const pair of sample[3].matchAll(pairs)) {
        labels[pair[1]!] = pair[2]!;
        consumed = pair.index! + pair[0].length;
      }
      if (consumed !== sample[3].length) throw new Error(`bad labels at ${where}`);
    }
    const value = sample[4] === '+Inf' ? Infinity : sample[4] === '-Inf' ? -Infinity : Number(sample[4]);
    if (Number.isNaN(value) && sample[4] !== 'NaN') throw new Error(`bad value at ${where}`);
    samples.push({ name: sample[1]!, labels, value });
  }
  return samples;
}

/** Sum of the samples of one metric whose labels include `match`. */
export function total(samples: readonly Sample[], name: string, match: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/** A metric of this process (prom-client's global registry, where an in-process tracker counts), summed over `match`. */
export async function metricValue(name: string, match: Record<string, string> = {}): Promise<number> {
  const { register } = await import('prom-client');
  return total(parseExposition(await register.metrics()), name, match);
}
