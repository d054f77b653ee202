// The results file of the compare-*.sh benches and their summary table, for the summary scripts they run
// with `node -` from the repo root: `const { ... } = require('./bench/compare-results.cjs');`.
const fs = require('node:fs');

/**
 * The rows of a results file (round, phase, tracker, then the generator's RESULT k=v pairs, or "failed" or
 * "dead"), tab-separated, one a line.
 */
function readResults(path) {
  return fs.readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => {
    const [round, phase, tracker, rest] = l.split('\t');
    const kv = {};
    for (const p of (rest ?? '').split(' ')) { const i = p.indexOf('='); if (i > 0) kv[p.slice(0, i)] = p.slice(i + 1); }
    return { round, phase, tracker, ok: rest !== 'failed' && rest !== 'dead', kv };
  });
}

const median = (xs) => { const s = xs.filter(Number.isFinite).sort((a, b) => a - b); if (!s.length) return NaN; const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

/** pick(phase, tracker, key): the median of `key` over that tracker's successful runs of the phase. */
const picker = (rows) => (phase, tracker, key) => median(rows.filter((r) => r.ok && r.phase === phase && r.tracker === tracker).map((r) => Number(r.kv[key])));

/** A figure with `d` decimals, or '-'. */
const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '-');

/** Prints the table (first row: headings; first column left-aligned, the others right-aligned), then the notes. */
function printTable(table, notes) {
  const w = table[0].map((_, i) => Math.max(...table.map((r) => String(r[i]).length)));
  for (const r of table) console.log(r.map((c, i) => (i === 0 ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join('  '));
  if (notes.length) console.log('\nnotes:\n' + notes.map((n) => '  - ' + n).join('\n'));
}

module.exports = { readResults, picker, median, f, printTable };
