/**
 * The CLI's plain-text tables (`earshot analyze`, `earshot train`, `earshot model info`): one
 * printer, so every command lines its columns up the same way.
 */

/** How {@link formatTable} lays out the columns. */
export interface TableOptions {
  /** Per column, 'left' (the default) or 'right' (numbers); columns past the list are left-aligned. */
  align?: readonly ('left' | 'right')[];
  /** Written before every line (e.g. '  ' to indent the table). Default ''. */
  indent?: string;
}

/**
 * Lines up `rows` (the first is usually the header) in columns two spaces apart, each as wide as
 * its longest cell; trailing spaces are cut from every line.
 * @param rows cells by row; every row has the same number of cells
 * @returns one string per row, without line breaks
 */
export function formatTable(rows: readonly (readonly string[])[], options: TableOptions = {}): string[] {
  if (rows.length === 0) return [];
  const { align = [], indent = '' } = options;
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  return rows.map((row) =>
    `${indent}${row.map((cell, c) => (align[c] === 'right' ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ')}`.trimEnd(),
  );
}
