/**
 * What a run measured and how it is printed: the same lines for every generator (responses, errors, latency,
 * the generator's and the tracker's CPU), then `RESULT k=v ...`, the last line, which the compare scripts read.
 */
import type { Percentiles } from './histogram.js';
import type { TrackerCpu } from './proc-cpu.js';

/** The measured window's figures, summed over generator processes. */
export interface Stats<C extends string> {
  /** Seconds. */
  elapsed: number;
  responses: number;
  /** The generator's CPU seconds (all its processes). */
  genCpu: number;
  /** µs. */
  latency: Percentiles;
  /** The generator's own counters (announces, timeouts, ...). */
  counters: Record<C, number>;
  /** Error messages, ready to print. */
  messages: string[];
}

/** The measured window's edges, when the harness reads the tracker's CPU time. */
export interface MeasureWindow {
  begin(): void;
  end(): void;
}

/** What a generator says about its figures; the harness prints the rest. */
export interface Summary {
  /** The first line, after "<tool> [label] host:port: ": the load's parameters. */
  title: string;
  /** After the responses/s, in parentheses. */
  detail?: string;
  /** Lines after the responses line: [label, text]. */
  lines?: [string, string][];
  /** The errors line. */
  errors: string;
  /** Who the generator is, before its CPU time, e.g. 'wrk '. */
  generator?: string;
  /** Lines after the generator's CPU time: [label, text]. */
  notes?: [string, string][];
  /** RESULT keys after proto, responses, elapsed and rps (`errors` among them: what the tool counts as errors). */
  result: Record<string, string | number>;
}

export function fmtUs(us: number): string {
  if (!Number.isFinite(us)) return '-';
  return us >= 1000 ? `${(us / 1000).toFixed(us >= 10000 ? 0 : 1)} ms` : `${us.toFixed(0)} µs`;
}

/** `cpuSeconds` over `elapsed` seconds as a whole percentage of one core, e.g. "87". */
export function percentOfCore(cpuSeconds: number, elapsed: number): string {
  return ((100 * cpuSeconds) / elapsed).toFixed(0);
}

const row = (label: string, text: string): string => `  ${`${label}:`.padEnd(11)} ${text}`;

/** Prints the summary and the RESULT line. */
export function printReport(
  head: { tool: string; proto: string; label: string; host: string; port: number },
  s: Stats<string>,
  summary: Summary,
  tracker: TrackerCpu,
): void {
  const rps = s.responses / s.elapsed;
  const perResponse = (tracker.seconds * 1e6) / Math.max(1, s.responses);
  const l = s.latency;
  const detail = summary.detail ? ` (${summary.detail})` : '';
  const lines = [
    `${head.tool} ${head.label ? `${head.label} ` : ''}${head.host}:${head.port}: ${summary.title}`,
    row('responses', `${s.responses} in ${s.elapsed.toFixed(2)} s = ${rps.toFixed(0)} responses/s${detail}`),
    ...(summary.lines ?? []).map(([k, v]) => row(k, v)),
    row('errors', summary.errors),
    row('latency', `p50 ${fmtUs(l.p50)}, p90 ${fmtUs(l.p90)}, p99 ${fmtUs(l.p99)}, max ${fmtUs(l.max)}`),
    row('generator', `${summary.generator ?? ''}${s.genCpu.toFixed(2)} CPU s (${percentOfCore(s.genCpu, s.elapsed)}% of one core)`),
    ...(summary.notes ?? []).map(([k, v]) => row(k, v)),
  ];
  if (tracker.pid) {
    lines.push(
      row(
        'tracker',
        `${tracker.seconds.toFixed(2)} CPU s (${percentOfCore(tracker.seconds, s.elapsed)}% of one core), ` +
          `${perResponse.toFixed(2)} µs CPU/response, ${(100 * tracker.kernelShare).toFixed(0)}% of it in the kernel`,
      ),
    );
  }
  for (const m of s.messages) lines.push(row('error', m));
  console.log(lines.join('\n'));
  const kv: Record<string, string | number> = {
    proto: head.proto,
    responses: s.responses,
    elapsed: s.elapsed.toFixed(3),
    rps: rps.toFixed(0),
    ...summary.result,
    p50_us: l.p50.toFixed(0),
    p99_us: l.p99.toFixed(0),
    gen_cpu_s: s.genCpu.toFixed(3),
    tracker_cpu_s: tracker.pid ? tracker.seconds.toFixed(3) : 'NaN',
    cpu_us_per_resp: tracker.pid ? perResponse.toFixed(3) : 'NaN',
    kernel_share: tracker.pid ? tracker.kernelShare.toFixed(3) : 'NaN',
  };
  console.log('RESULT ' + Object.entries(kv).map(([k, v]) => `${k}=${v}`).join(' '));
}
