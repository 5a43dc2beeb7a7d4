/**
 * HTML built only through the `html` tag: every interpolated value is escaped unless it is
 * itself `SafeHtml` (the result of another `html` tag, or of `raw` for constant markup). So
 * a stored string (an email address, an application name, a name typed into a form) can
 * never become markup, wherever it ends up.
 */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value
  }
}

export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[]

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\'': '&#39;' }

export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!)

function render(value: HtmlValue): string {
  // `${cond && html`…`}` leaves false behind when cond is false: that renders as nothing.
  if (value === null || value === undefined || typeof value === 'boolean') return ''
  if (value instanceof SafeHtml) return value.value
  if (Array.isArray(value)) return value.map(render).join('')
  return escapeHtml(String(value))
}

export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0]!
  values.forEach((value, i) => { out += render(value) + strings[i + 1]! })
  return new SafeHtml(out)
}

/** Markup written by us, never by a user: a constant stylesheet, for instance. */
export const raw = (markup: string): SafeHtml => new SafeHtml(markup)
