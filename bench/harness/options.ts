/**
 * Command lines from one declarative table: each option's type, range, default and help line. The table gives
 * the parser (node:util parseArgs, strict), the checks, the typed values (`--cpu-pid` becomes `cpuPid`) and the
 * `--help` text, so no tool repeats any of them. The option groups every load generator shares are here too.
 */
import { parseArgs } from 'node:util';

export interface OptionSpec {
  /** int and number are checked against [min, max]; a flag takes no value. */
  readonly type: 'int' | 'number' | 'string' | 'flag';
  readonly help: string;
  /** The value's name in the help text: N, S, F, ... */
  readonly arg?: string;
  /** Absent: '' for strings, NaN for numbers (which are then required or given a meaning by the tool). */
  readonly default?: number | string;
  readonly min?: number;
  readonly max?: number;
  /** Asked for unless a `standalone` option is given. */
  readonly required?: boolean;
  /** An option that is a whole run by itself (`--write-hashes F`): the required options are not asked for. */
  readonly standalone?: boolean;
  /** Left out of the help text (`--child`, the harness's own). */
  readonly hidden?: boolean;
}

export type OptionTable = Readonly<Record<string, OptionSpec>>;

type Camel<S extends string> = S extends `${infer A}-${infer B}` ? `${A}${Capitalize<Camel<B>>}` : S;
type ValueOf<O extends OptionSpec> = O['type'] extends 'flag' ? boolean : O['type'] extends 'string' ? string : number;
/** The parsed values of a table: `--cpu-pid` becomes `cpuPid`. */
export type OptionValues<T extends OptionTable> = { -readonly [K in keyof T & string as Camel<K>]: ValueOf<T[K]> };

const camel = (name: string): string => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** The value of option `--name` as a number in [min, max] (a whole one for `int`), or an error. */
export function numberOption(name: string, v: string, min: number, max: number, int = true): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max || (int && !Number.isInteger(n))) {
    throw new Error(`--${name} must be ${int ? 'an integer' : 'a number'} in [${min}, ${max}], got ${v}`);
  }
  return n;
}

/** The help text: `usage` first, then one aligned line per option with its default (or "(required)"). */
export function usageText(usage: string, table: OptionTable): string {
  const rows = Object.entries(table)
    .filter(([, o]) => !o.hidden)
    .map(([name, o]) => {
      const left = `--${name}${o.arg ? ` ${o.arg}` : ''}`;
      const right = o.required ? '(required)' : o.default !== undefined && o.default !== '' ? `[${o.default}]` : '';
      return [left, o.help, right] as const;
    });
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.min(44, Math.max(...rows.map((r) => r[1].length)));
  return [usage, ...rows.map(([l, h, r]) => `  ${l.padEnd(w0)}  ${r ? `${h.padEnd(w1)}  ${r}` : h}`)].join('\n');
}

/**
 * Parses `argv` against `table`: `--help` prints the help text and exits 0; an unknown option, a bad value or
 * a missing required one is an error that names the option.
 */
export function parseOptions<T extends OptionTable>(table: T, argv: string[], usage: string): OptionValues<T> {
  const config: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const [name, o] of Object.entries(table)) config[name] = { type: o.type === 'flag' ? 'boolean' : 'string' };
  const { values } = parseArgs({ args: argv, options: config, strict: true, allowPositionals: false });
  if (values.help) {
    console.log(usageText(usage, table));
    process.exit(0);
  }
  const alone = Object.entries(table).some(([name, o]) => o.standalone && values[name] !== undefined);
  const value = (name: string, o: OptionSpec): unknown => {
    const given = values[name];
    if (given === undefined && o.required && !alone) throw new Error(`--${name} is required\n${usageText(usage, table)}`);
    if (o.type === 'flag') return given === true;
    if (o.type === 'string') return typeof given === 'string' ? given : String(o.default ?? '');
    if (typeof given === 'string') return numberOption(name, given, o.min ?? -Infinity, o.max ?? Infinity, o.type === 'int');
    return o.default ?? NaN;
  };
  // Built in one go: an object with fast properties (one assigned key by key would be a dictionary, and the
  // generators read their options in their hot loops).
  return Object.fromEntries(Object.entries(table).map(([name, o]) => [camel(name), value(name, o)])) as OptionValues<T>;
}

/** Refuse anything but loopback: this is a load generator. */
export function assertLoopback(host: string): void {
  if (host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) return;
  throw new Error(`refusing to load ${host}: only loopback targets (127.0.0.0/8, ::1, localhost) are allowed`);
}

// ---------------------------------------------------------------------------------------------------------------
// The option groups the tools share

/** --host (loopback only: see assertLoopback) and --port, e.g. "target UDP port". */
export const targetOptions = (port: string, host = 'target (loopback only)') =>
  ({
    host: { type: 'string', arg: 'H', default: '127.0.0.1', help: host },
    port: { type: 'int', arg: 'N', min: 1, max: 65535, required: true, help: port },
  }) as const satisfies OptionTable;

/** --duration and --warmup; `whole`: whole seconds only (wrk's -d). */
export const windowOptions = (warmup: number, whole = false) =>
  ({
    duration: { type: whole ? 'int' : 'number', arg: 'S', default: 10, min: whole ? 1 : 0.1, max: 3600, help: 'measured seconds' },
    warmup: { type: whole ? 'int' : 'number', arg: 'S', default: warmup, min: 0, max: 600, help: 'unmeasured seconds first' },
  }) as const satisfies OptionTable;

/** The bench's info hashes (see workload.ts) and their popularity. */
export const hashOptions = (hashes: number) =>
  ({
    hashes: { type: 'int', arg: 'N', default: hashes, min: 1, max: 10_000_000, help: 'distinct info hashes' },
    'hashes-file': { type: 'string', arg: 'F', help: 'read hex info hashes from F instead' },
    zipf: { type: 'number', arg: 'S', default: 1, min: 0, max: 10, help: 'popularity exponent (rank r ~ 1/r^S)' },
    seed: { type: 'int', arg: 'N', default: 1, min: 0, max: 2 ** 31, help: 'seed for hashes and randomness' },
    'write-hashes': { type: 'string', arg: 'F', standalone: true, help: "write the bench's info hashes (hex, one a line) to F and exit" },
  }) as const satisfies OptionTable;

/** What the harness runs in generator processes (harness/generator.ts): request timeout, count, processes. */
export const generatorOptions = (timeoutMs: number) =>
  ({
    timeout: { type: 'int', arg: 'MS', default: timeoutMs, min: 10, max: 60_000, help: 'request timeout' },
    count: { type: 'int', arg: 'N', default: 0, min: 0, max: 1e12, help: 'stop after N responses in total (0: none)' },
    procs: { type: 'int', arg: 'N', default: 1, min: 1, max: 64, help: 'generator processes (figures are summed)' },
  }) as const satisfies OptionTable;

/** The tracker's CPU, the label and the harness's own --child. */
export const reportOptions = {
  'cpu-pid': { type: 'int', arg: 'PID', default: 0, min: 0, max: 2 ** 31, help: "report this process tree's CPU time in the window" },
  label: { type: 'string', arg: 'NAME', help: 'name printed with the result' },
  child: { type: 'int', default: -1, min: -1, max: 63, hidden: true, help: 'generator process N of --procs (set by the harness)' },
} as const satisfies OptionTable;

/** --probe: one request (`what`), retried until answered; the compare scripts wait for a tracker with it. */
export const probeOptions = (what: string) =>
  ({
    probe: { type: 'flag', help: `${what} (retrying), exit 0 when answered` },
    'probe-timeout': { type: 'number', arg: 'S', default: 20, min: 1, max: 600, help: 'seconds --probe keeps trying' },
  }) as const satisfies OptionTable;

/** The option table of an in-process generator tool (harness/generator.ts): every group, with `own` in the middle. */
export const generatorToolOptions = <T extends OptionTable>(
  p: { target: string; warmup: number; hashes: number; timeout: number; probe: string },
  own: T,
) =>
  ({
    ...targetOptions(`target ${p.target}`),
    ...windowOptions(p.warmup),
    ...hashOptions(p.hashes),
    ...own,
    ...generatorOptions(p.timeout),
    ...reportOptions,
    ...probeOptions(p.probe),
  }) as const;
