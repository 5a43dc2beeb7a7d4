import { after, before } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { killAllFoyers, randomSecretKey, randomServerSecret, repoRoot, startFoyer, type FoyerProcess } from './child-server.js'

/** Debian's Chromium (never a downloaded browser), which .ci/run installs. */
export const CHROMIUM = '/usr/bin/chromium'
export const SCREENSHOTS = join(repoRoot, 'docs', 'screenshots')

// CI (.ci/run) installs Chromium from Debian and sets CI: there a missing browser is a
// failure. Elsewhere the suite says why it skips.
const chromiumMissing = !existsSync(CHROMIUM)
/** The `skip` option of every browser suite's describe(). */
export const browserSkip = chromiumMissing && !process.env.CI ? `Chromium is not installed at ${CHROMIUM} (apt-get install chromium)` : false

export interface BrowserSuite {
  /** Set by the suite's `before`. */
  foyer: FoyerProcess
  browser: Browser
  /** The default instance's key (FOYER_SECRET_KEY). */
  secretKey: string
  /** A page in a context of its own; any Content-Security-Policy violation it reports fails the suite. */
  newPage(options?: { viewport?: { width: number; height: number } }): Promise<Page>
}

/**
 * Registers the hooks every browser suite shares: Foyer as a child process on a free port, with
 * a data folder of its own and the test clock (plus `env()`, read in `before`, after the hooks
 * registered earlier, such as an SMTP sink's), and Chromium beside it; both stopped after, and
 * the suite failed if any page reported a CSP violation. Call it inside describe().
 */
export function useBrowserSuite(name: string, env: () => Record<string, string> = () => ({})): BrowserSuite {
  let dataDir: string | null = null
  const cspViolations: string[] = []
  const suite = {
    secretKey: randomSecretKey(),
    async newPage(options: { viewport?: { width: number; height: number } } = {}) {
      const viewport = options.viewport ?? { width: 1280, height: 900 }
      const context = await suite.browser.newContext({ viewport, deviceScaleFactor: viewport.width < 500 ? 2 : 1 })
      const page = await context.newPage()
      page.on('console', (message) => {
        if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text())
      })
      return page
    },
  } as BrowserSuite

  before(async () => {
    if (chromiumMissing) assert.fail(`Chromium is required for the browser tests but ${CHROMIUM} does not exist: install Debian's package (apt-get install chromium), as .ci/run does.`)
    mkdirSync(SCREENSHOTS, { recursive: true })
    dataDir = mkdtempSync(join(tmpdir(), `foyer-browser-${name}-`))
    ;[suite.foyer, suite.browser] = await Promise.all([
      startFoyer({
        PORT: '0', HOST: '127.0.0.1', FOYER_DATA_DIR: join(dataDir, 'data'), FOYER_SECRET_KEY: suite.secretKey, FOYER_SECRET: randomServerSecret(),
        FOYER_TESTING: '1', LOG_LEVEL: 'warn', ...env(),
      }, { cwd: dataDir }),
      chromium.launch({ executablePath: CHROMIUM }),
    ])
  })

  after(async () => {
    await suite.browser?.close()
    await suite.foyer?.stop().catch(() => killAllFoyers())
    if (dataDir) rmSync(dataDir, { recursive: true, force: true })
    assert.deepEqual(cspViolations, [], 'no Content-Security-Policy violations')
  })

  return suite
}

/**
 * Creates the first operator through the setup link Foyer printed at start, as a person would,
 * and answers the dashboard's base path for the default instance (`…/dashboard/ins_…`).
 */
export async function setUpFirstOperator(page: Page, foyer: FoyerProcess, email: string, password: string): Promise<string> {
  const setupLink = /setup:\s+(http:\/\/\S+\/dashboard\/setup\?token=\S+)/.exec(foyer.output())?.[1]
  assert.ok(setupLink, `no setup link printed:\n${foyer.output()}`)
  await page.goto(setupLink)
  await page.getByLabel('Email address').fill(email)
  await page.getByLabel('Password').fill(password)
  await Promise.all([page.waitForURL(/\/dashboard\/ins_\w+\/\w+/), page.getByRole('button', { name: 'Create operator' }).click()])
  return /^(.*\/dashboard\/ins_\w+)\//.exec(page.url())![1]!
}
