import { parse } from 'csv-parse/sync'

/** Records of an RFC 4180 file (a BOM, CRLF, LF or CR, quoted fields spanning lines); blank lines are skipped. */
export function parseCsv(text: string): string[][] {
  // Every line ending, even mixed in one file (a line appended by another tool); csv-parse otherwise keeps the first one it sees.
  return parse(text, { bom: true, skip_empty_lines: true, relax_column_count: true, record_delimiter: ['\r\n', '\n', '\r'] }) as string[][]
}

/** One CSV line: fields with a comma, quote or line break are quoted, quotes doubled. */
export function csvLine(fields: ReadonlyArray<string | number | null | undefined>): string {
  return fields.map((field) => {
    const text = field === null || field === undefined ? '' : String(field)
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text
  }).join(',') + '\n'
}
