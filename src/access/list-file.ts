/**
 * Access lists kept in files: read and parsed whole, followed as they change on disk, and edited by the CLI
 * (written to a temporary file and renamed over the list, so that the tracker never reads half a file).
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { entryText, parseList, type ListKind } from './lists.js';

/** Editors save in bursts (truncate, write, rename): one read after the burst. */
const DEBOUNCE_MS = 100;

export async function readListFile(kind: ListKind, file: string): Promise<string[]> {
  return parseList(kind, await readFile(file, 'latin1'), file);
}

/**
 * Calls `changed` after the file changes on disk. The directory is watched, not the file: an editor that saves
 * by renaming a new file over the old one replaces the inode a file watch would follow.
 */
export function watchListFile(file: string, changed: () => void, failed: (error: Error) => void): FSWatcher {
  const name = basename(file);
  let timer: NodeJS.Timeout | undefined;
  const watcher = watch(dirname(file), { persistent: false }, (_event, filename) => {
    if (filename !== null && filename !== name) return;
    clearTimeout(timer);
    timer = setTimeout(changed, DEBOUNCE_MS);
  });
  watcher.on('error', failed);
  watcher.on('close', () => clearTimeout(timer));
  return watcher;
}

/** Writes `text` to a temporary file next to `file` and renames it over `file`, keeping the file's mode. */
async function replaceFile(file: string, text: string): Promise<void> {
  const mode = await stat(file).then(
    (stats) => stats.mode & 0o7777,
    () => 0o600,
  );
  const temporary = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  await writeFile(temporary, text, { encoding: 'latin1', mode });
  await rename(temporary, file);
}

async function textOf(file: string): Promise<string> {
  try {
    return await readFile(file, 'latin1');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
}

/** Appends the entries the file does not list yet (a missing file is created); resolves with how many. */
export async function addToListFile(kind: ListKind, file: string, entries: readonly string[]): Promise<number> {
  const text = await textOf(file);
  const listed = new Set(await parseList(kind, text, file));
  const added = [...new Set(entries)].filter((entry) => !listed.has(entry));
  if (added.length === 0) return 0;
  const separator = text === '' || text.endsWith('\n') ? '' : '\n';
  await replaceFile(file, `${text}${separator}${added.join('\n')}\n`);
  return added.length;
}

/** Removes the lines of the given entries (comments and other lines stay); resolves with how many entries went. */
export async function removeFromListFile(kind: ListKind, file: string, entries: readonly string[]): Promise<number> {
  const text = await textOf(file);
  await parseList(kind, text, file); // a malformed file is reported, not edited
  const removing = new Set(entries);
  const removed = new Set<string>();
  const kept = text.split('\n').filter((line) => {
    const raw = entryText(line);
    const entry = raw === '' ? null : kind.normalize(raw);
    if (entry === null || !removing.has(entry)) return true;
    removed.add(entry);
    return false;
  });
  if (removed.size > 0) await replaceFile(file, kept.join('\n'));
  return removed.size;
}
