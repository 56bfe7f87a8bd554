// What a bench reports for bench/RESULTS.md: each bench calls `record()` for every figure it prints, beside the
// baseline it measured in the same run. `npm run bench -- --write` collects the rows of every bench it ran and
// writes RESULTS.md from them, so no figure there is written by hand.

export interface BenchRow {
  /** The bench's name (its file name without `.ts`). */
  bench: string;
  /** What was measured, e.g. "full connects/s, default options, SQLite". */
  measure: string;
  value: number;
  /** e.g. "connects/s", "ms", "KB". */
  unit: string;
  /** The baseline measured in the same run, if there is one. */
  baseline?: { label: string; value: number };
  /** value / baseline.value when a baseline exists (or the inverse, when lower is better: say so in `goal`). */
  ratio?: number;
  /** The floor that must hold, e.g. "≥ 1.0×", if the work has one. */
  floor?: string;
  /** The goal, e.g. "≥ 1.2×" or "≤ 2 ms". */
  goal?: string;
  /** What limits the figure, or how it was taken. */
  note?: string;
}

const rows: BenchRow[] = [];

export function record(row: BenchRow): void {
  rows.push(row);
}

export function recorded(): readonly BenchRow[] {
  return rows;
}
