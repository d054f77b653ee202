/**
 * The four access lists and what an entry of each is: how an operator writes it (in a file, the config or the
 * CLI), its normalized text (what Redis and the CLI keep), and the structure requests are matched against.
 */
import { InfoHashTable } from './info-hash-table.js';
import { nextTurn, SLICE } from './slices.js';
import { isPasskey } from '../protocol/announce-path.js';

export type ListName = 'info-hash' | 'peer-id' | 'origin' | 'passkey';
export const LIST_NAMES: readonly ListName[] = ['info-hash', 'peer-id', 'origin', 'passkey'];

/** What requests are matched against: built once from a list's entries, never changed. */
export interface Matcher {
  readonly size: number;
  matches(value: string): boolean;
}

export interface ListKind {
  readonly name: ListName;
  /** What an entry looks like, for error messages. */
  readonly expected: string;
  /** The normalized entry, or null when `text` is not one. */
  normalize(text: string): string | null;
  /** A matcher of normalized entries (built in slices, between which requests are served). */
  build(entries: readonly string[]): Promise<Matcher>;
}

class SetMatcher implements Matcher {
  constructor(private readonly set: ReadonlySet<string>) {}
  get size(): number {
    return this.set.size;
  }
  matches(value: string): boolean {
    return this.set.has(value);
  }
}

/** peer_id prefixes are few (client versions): a scan of them is cheaper than anything cleverer. */
class PrefixMatcher implements Matcher {
  constructor(private readonly prefixes: readonly string[]) {}
  get size(): number {
    return this.prefixes.length;
  }
  matches(peerId: string): boolean {
    for (const prefix of this.prefixes) if (peerId.startsWith(prefix)) return true;
    return false;
  }
}

/** `%XX` escapes to latin1 bytes; anything else as is (peer_id prefixes are binary, most are printable). */
function percentDecode(text: string): string | null {
  if (/%(?![0-9a-fA-F]{2})/.test(text)) return null;
  return text.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

const HEX_HASH = /^[0-9a-fA-F]{40}$/;
/** Printable ASCII but `%` (the escape), `,` (the config list's separator), `#` (comments) and space. */
const PREFIX = /^(?:[!-~]|%[0-9a-fA-F]{2})+$/;
const ORIGIN = /^(https?):\/\/([a-z0-9.-]+|\[[0-9a-f:.]+\])(:\d{1,5})?$/;

export const LIST_KINDS: Readonly<Record<ListName, ListKind>> = {
  'info-hash': {
    name: 'info-hash',
    expected: 'an info hash (40 hex digits)',
    normalize: (text) => (HEX_HASH.test(text) ? text.toLowerCase() : null),
    build: async (entries) => {
      const hashes = Buffer.allocUnsafe(20 * entries.length);
      for (let i = 0; i < entries.length; i++) {
        hashes.write(entries[i]!, 20 * i, 'hex');
        if (i % SLICE === SLICE - 1) await nextTurn();
      }
      return InfoHashTable.from(hashes);
    },
  },
  'peer-id': {
    name: 'peer-id',
    expected: 'a peer_id prefix (1 to 20 bytes: printable ASCII, %XX for others)',
    normalize: (text) => {
      if (!PREFIX.test(text) || /[,#]/.test(text)) return null;
      const bytes = percentDecode(text);
      return bytes === null || bytes.length > 20 ? null : text;
    },
    build: async (entries) => new PrefixMatcher([...new Set(entries.map((text) => percentDecode(text)!))]),
  },
  origin: {
    name: 'origin',
    expected: 'an origin (http[s]://host[:port], no path)',
    normalize: (text) => {
      const lower = text.toLowerCase();
      return lower === 'null' || ORIGIN.test(lower) ? lower : null;
    },
    build: async (entries) => new SetMatcher(new Set(entries)),
  },
  passkey: {
    name: 'passkey',
    expected: 'a passkey (8 to 128 characters: letters, digits, . _ ~ -)',
    normalize: (text) => (isPasskey(text) ? text : null),
    build: async (entries) => new SetMatcher(new Set(entries)),
  },
};

/** A line of a list: its entry, or '' for a blank or comment line (`#` starts a comment). */
export function entryText(line: string): string {
  const hash = line.indexOf('#');
  return (hash < 0 ? line : line.slice(0, hash)).trim();
}

export class ListSyntaxError extends Error {
  override readonly name = 'ListSyntaxError';
  constructor(
    readonly where: string,
    reason: string,
  ) {
    super(`${where}: ${reason}`);
  }
}

/** The normalized entries of a list's text, one a line; the first malformed line throws, naming `file:line`. */
export async function parseList(kind: ListKind, text: string, file: string): Promise<string[]> {
  const entries: string[] = [];
  for (let start = 0, line = 1; start < text.length; line++) {
    if (line % SLICE === 0) await nextTurn();
    const end = text.indexOf('\n', start);
    const raw = entryText(text.slice(start, end < 0 ? text.length : end));
    start = end < 0 ? text.length : end + 1;
    if (raw === '') continue;
    const entry = kind.normalize(raw);
    if (entry === null) throw new ListSyntaxError(`${file}:${line}`, `not ${kind.expected}: "${raw.slice(0, 80)}"`);
    entries.push(entry);
  }
  // RegExp's legacy statics (RegExp.input, lastMatch) keep the last subject matched, a slice of `text` that
  // would keep all of it (41 MB for 1M info hashes) alive until some other regular expression runs.
  /(?:)/.exec('');
  return entries;
}

/** Entries given as arguments or config values, normalized; the first malformed one throws, naming `where`. */
export function normalizeEntries(kind: ListKind, texts: readonly string[], where: string): string[] {
  return texts.map((text) => {
    const entry = kind.normalize(text.trim());
    if (entry === null) throw new ListSyntaxError(where, `not ${kind.expected}: "${text.slice(0, 80)}"`);
    return entry;
  });
}
