import { parse } from 'csv-parse/sync'

/** Records of an RFC 4180 file (a BOM, CRLF or LF, quoted fields spanning lines); blank lines are skipped. */
export function parseCsv(text: string): string[][] {
  return parse(text, { bom: true, skip_empty_lines: true, relax_column_count: true }) as string[][]
}

/** One CSV line: fields with a comma, quote or line break are quoted, quotes doubled. */
export function csvLine(fields: ReadonlyArray<string | number | null | undefined>): string {
  return fields.map((field) => {
    const text = field === null || field === undefined ? '' : String(field)
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text
  }).join(',') + '\n'
}
