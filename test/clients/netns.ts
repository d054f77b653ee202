// Outer side of the real-client test: runs one scenario in a private network
// namespace (only `lo`, nothing can leave the machine) that is also a PID
// namespace, so when the runner ends — or is killed — every tracker and client
// process inside it is killed by the kernel too.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import type { ScenarioConfig, ScenarioResult } from './netns-runner.js';
import { tailFile } from './proc.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RUNNER = fileURLToPath(new URL('./netns-runner.ts', import.meta.url));

/** Why the namespace test cannot run here, or undefined if it can. */
export function netnsUnavailable(): string | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return 'needs root to create a private network namespace (unshare -n)';
  }
  const probe = spawnSync('unshare', ['--net', '--pid', '--fork', '--mount-proc', '--', 'true'], { encoding: 'utf8' });
  if (probe.error) return `unshare not available: ${probe.error.message}`;
  if (probe.status !== 0) return `unshare --net --pid failed: ${probe.stderr.trim()}`;
  return undefined;
}

export interface ScenarioRun {
  result: ScenarioResult | undefined;
  /** Runner's own progress log (stderr) and any stray stdout. */
  runnerOutput: string;
  exit: string;
  wallMs: number;
}

/**
 * Run one scenario in a fresh namespace under a hard wall-clock limit. The
 * work directory is created here and always removed afterwards.
 */
export async function runScenario(
  cfg: Omit<ScenarioConfig, 'workDir' | 'repoRoot'>,
  hardTimeoutMs: number,
): Promise<ScenarioRun> {
  const workDir = mkdtempSync(join(tmpdir(), `redswarm-clients-${cfg.proto}-${cfg.seeder}-${cfg.leecher}-`));
  const full: ScenarioConfig = { ...cfg, workDir, repoRoot: REPO_ROOT };
  const started = Date.now();
  try {
    const child = spawn(
      'unshare',
      [
        '--net',
        '--pid',
        '--fork',
        '--kill-child=SIGKILL',
        '--mount-proc',
        '--',
        process.execPath,
        '--import',
        'tsx',
        RUNNER,
        JSON.stringify(full),
      ],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      // Killing unshare makes the kernel kill the namespace's init (--kill-child),
      // and with it every process in the PID namespace.
      child.kill('SIGKILL');
    }, hardTimeoutMs);
    const exit = await new Promise<string>((resolve) => {
      child.once('error', (err) => resolve(`spawn error: ${err.message}`));
      child.once('close', (code, signal) => resolve(signal ? `killed by ${signal}` : `exit code ${code}`));
    });
    clearTimeout(timer);
    let result: ScenarioResult | undefined;
    try {
      result = JSON.parse(readFileSync(join(workDir, 'result.json'), 'utf8')) as ScenarioResult;
    } catch {
      result = undefined;
      // The runner was killed before it could report: show what the logs say.
      output += `\n${logTails(workDir)}`;
    }
    return {
      result,
      runnerOutput: output,
      exit: timedOut ? `hard timeout after ${hardTimeoutMs} ms (${exit})` : exit,
      wallMs: Date.now() - started,
    };
  } finally {
    // REDSWARM_E2E_KEEP=1 keeps the work dir (logs, configs) for debugging.
    if (process.env.REDSWARM_E2E_KEEP === '1') process.stderr.write(`kept ${workDir}\n`);
    else rmSync(workDir, { recursive: true, force: true });
  }
}

/**
 * Reports a run: a failed one in one piece, so that CI logs show the runner's steps and the tails of the
 * tracker's and both clients' logs; a passed one as the time each step took.
 */
export function reportRun(t: TestContext, name: string, run: ScenarioRun): void {
  const r = run.result;
  if (!r || !r.ok) {
    const report = [
      `runner ${run.exit}, ${run.wallMs} ms`,
      '----- runner output -----',
      run.runnerOutput.trimEnd(),
      ...(r ? ['----- diagnostics -----', r.diagnostics] : []),
    ].join('\n');
    console.error(`\n===== FAILED: ${name}\n${report}\n===== end of ${name}\n`);
    return;
  }
  const steps = Object.entries(r.timings)
    .map(([k, v]) => `${(v / 1000).toFixed(1)}s ${k}`)
    .join('; ');
  t.diagnostic(`ok in ${(run.wallMs / 1000).toFixed(1)} s: ${steps}`);
}

/** Tails of every log the tracker and clients wrote under `dir`. */
function logTails(dir: string): string {
  let files: string[];
  try {
    files = readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((f) => /\.(log|out)$/.test(f))
      .sort();
  } catch {
    return '(no logs)';
  }
  return files.map((f) => `===== log ${f} =====\n${tailFile(join(dir, f), 30)}`).join('\n');
}
