import { createHash } from 'node:crypto'

/**
 * The cookies Clerk's SDKs keep on the application's own domain, as Set-Cookie lines the
 * application's middleware appends to its answer: from a handshake's directives, or from a
 * refresh. Foyer never sets these itself; it hands them to the application.
 */

/** `getCookieSuffix` of @clerk/shared: the first 8 characters of base64url(SHA-1(publishable key)). */
export function cookieSuffix(publishableKey: string): string {
  return createHash('sha1').update(publishableKey).digest('base64url').slice(0, 8)
}

export interface CookieContext {
  publishableKey: string
  /** Whether the application asked for suffixed cookies (`suffixed_cookies=true`): both names are set then. */
  suffixed: boolean
  /** The application is served over https: its cookies are Secure. */
  secure: boolean
}

// `__client_uat` outlives any session: 0 is how a signed-out browser says so.
const TEN_YEARS_S = 315_360_000
const ONE_YEAR_S = 31_536_000

function line(name: string, value: string, attributes: string[], secure: boolean): string {
  return [`${name}=${value}`, 'Path=/', ...attributes, ...(secure ? ['Secure'] : [])].join('; ')
}

/** The unsuffixed name and, when asked, the suffixed one too. */
function names(base: string, c: CookieContext): string[] {
  return c.suffixed ? [`${base}_${cookieSuffix(c.publishableKey)}`, base] : [base]
}

/** The session token cookie. Never HttpOnly: clerk-js rewrites it from the page when it refreshes. */
export function sessionTokenCookies(c: CookieContext, token: string): string[] {
  return names('__session', c).map((name) => line(name, token, ['SameSite=Lax'], c.secure))
}

export interface SignedInCookies {
  token: string
  /** The client's last sign-in, in seconds; never later than the token's `iat`, or the SDK handshakes again. */
  clientUat: number
  /** Lets the application refresh an expired token through the Backend API, without a redirect. */
  refreshToken: string
}

/** Directives that sign the application's browser in. */
export function signedInCookies(c: CookieContext, s: SignedInCookies): string[] {
  return [
    ...sessionTokenCookies(c, s.token),
    ...names('__client_uat', c).map((name) => line(name, String(s.clientUat), ['SameSite=Lax', `Max-Age=${TEN_YEARS_S}`], c.secure)),
    // Only the suffixed name is ever read; HttpOnly, since nothing in the page needs it.
    line(`__refresh_${cookieSuffix(c.publishableKey)}`, s.refreshToken, ['HttpOnly', 'SameSite=Lax'], c.secure),
  ]
}

/** Directives that sign the application's browser out. */
export function signedOutCookies(c: CookieContext): string[] {
  return [
    ...names('__session', c).map((name) => line(name, '', ['SameSite=Lax', 'Max-Age=0'], c.secure)),
    ...names('__client_uat', c).map((name) => line(name, '0', ['SameSite=Lax', `Max-Age=${TEN_YEARS_S}`], c.secure)),
    line(`__refresh_${cookieSuffix(c.publishableKey)}`, '', ['HttpOnly', 'SameSite=Lax', 'Max-Age=0'], c.secure),
  ]
}

/**
 * The development-browser cookie, for `pk_test_` keys only: without it the SDK sends every
 * first page view of a browser to the handshake again (`dev-browser-missing`) until its loop
 * guard signs the person out. Foyer keeps nothing under it; it only has to be there.
 */
export function devBrowserCookies(c: CookieContext, value: string): string[] {
  return names('__clerk_db_jwt', c).map((name) => line(name, value, ['SameSite=Lax', `Max-Age=${ONE_YEAR_S}`], c.secure))
}
