/**
 * Runs a runner script in a private network + PID namespace (only `lo`; see test/clients/netns.ts) under a hard
 * time limit, and reads the JSON line it prints last. Killing `unshare` makes the kernel end every process in it.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface NamespaceRun<Result> {
  result: Result | undefined;
  output: string;
  exit: string;
}

export async function runInNamespace<Result>(runner: string, env: NodeJS.ProcessEnv, hardTimeoutMs: number): Promise<NamespaceRun<Result>> {
  const child = spawn(
    'unshare',
    ['--net', '--pid', '--fork', '--kill-child=SIGKILL', '--mount-proc', '--', process.execPath, '--import', 'tsx', runner],
    { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), hardTimeoutMs);
  const exit = await new Promise<string>((resolve) => {
    child.once('error', (error) => resolve(`spawn error: ${error.message}`));
    child.once('close', (code, signal) => resolve(signal ? `killed by ${signal}` : `exit code ${code}`));
  });
  clearTimeout(timer);
  let result: Result | undefined;
  try {
    result = JSON.parse(stdout.trim().split('\n').pop() ?? '') as Result;
  } catch {
    result = undefined;
  }
  return { result, output: `${stderr}${stdout}`, exit };
}
