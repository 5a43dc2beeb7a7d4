import { constants, readdirSync, readFileSync, realpathSync } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, extname, join } from 'node:path'

/**
 * The browser builds of `@clerk/clerk-js` that Foyer depends on, by the version names Clerk's
 * loaders put in their URLs (`/npm/@clerk/clerk-js@<version>/dist/<file>`): the exact version,
 * `<major>.<minor>`, `<major>`, and `latest` for the newest. Only the files directly in each
 * package's `dist` folder are known (the bundles and the chunks they load from their own
 * folder); nothing else can be named, whatever a path holds.
 */
export interface ClerkJsBundles {
  /** The installed exact versions, newest first. */
  readonly versions: readonly string[]
  /** The file a request names, or null for an unknown version or file. */
  find(version: string, file: string): BundleFile | null
}

export interface BundleFile {
  /** The exact version the file belongs to; `isExact` when the request named it so. */
  readonly version: string
  readonly isExact: boolean
  readonly path: string
  readonly contentType: string
  readonly etag: string
}

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
}
// Bundle and chunk names are plain: anything with a slash, a backslash, a NUL or a leading dot is no file of theirs.
const FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,200}$/
const EXACT = /^(\d+)\.(\d+)\.(\d+)$/

interface Dist {
  version: string
  /** realpath of the package's dist folder */
  folder: string
  files: Map<string, { contentType: string; etag: string }>
}

/** One package: its dist folder's plain files with a served extension (symbolic links and folders are left out). */
function readDist(packageName: string, require: ReturnType<typeof createRequire>): Dist {
  // The packages export no package.json; their main entry sits in dist/.
  const folder = realpathSync(dirname(require.resolve(packageName)))
  const manifest = JSON.parse(readFileSync(join(folder, '..', 'package.json'), 'utf8')) as { name?: string; version?: string }
  if (manifest.name !== '@clerk/clerk-js' || !manifest.version || !EXACT.test(manifest.version)) {
    throw new Error(`${packageName} is not a release of @clerk/clerk-js (found ${manifest.name}@${manifest.version})`)
  }
  const files = new Map<string, { contentType: string; etag: string }>()
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const contentType = CONTENT_TYPES[extname(entry.name)]
    if (!entry.isFile() || !contentType || !FILE_NAME.test(entry.name)) continue
    // Files of a published version never change, so the version names their content.
    files.set(entry.name, { contentType, etag: `"${manifest.version}-${entry.name}"` })
  }
  return { version: manifest.version, folder, files }
}

/**
 * Reads the dist folders of `packageNames` (npm names as installed, aliases included) once.
 * Throws when one is missing or is no release of @clerk/clerk-js: Foyer depends on them.
 */
export function loadClerkJsBundles(packageNames: readonly string[] = ['@clerk/clerk-js', 'clerk-js-v5'], from = import.meta.url): ClerkJsBundles {
  const require = createRequire(from)
  const dists = packageNames.map((name) => readDist(name, require))
    .sort((a, b) => compareVersions(b.version, a.version))
  const byName = new Map<string, { dist: Dist; isExact: boolean }>()
  for (const dist of dists) {
    const [, major, minor] = EXACT.exec(dist.version)!
    byName.set(dist.version, { dist, isExact: true })
    // Newest first: a range names the newest installed release within it.
    for (const range of [`${major}.${minor}`, major!]) if (!byName.has(range)) byName.set(range, { dist, isExact: false })
  }
  if (dists[0]) byName.set('latest', { dist: dists[0], isExact: false })

  return {
    versions: dists.map((d) => d.version),
    find(version, file) {
      const named = byName.get(version)
      const known = named?.dist.files.get(file)
      if (!named || !known) return null
      return { version: named.dist.version, isExact: named.isExact, path: join(named.dist.folder, file), ...known }
    },
  }
}

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number)
  const pb = b.split('.').map(Number)
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i]! - pb[i]!
  return 0
}

/**
 * Opens a known file for reading, refusing one that became a symbolic link or anything but a
 * plain file since the folder was read; null when it is gone (a package replaced meanwhile).
 */
export async function openBundleFile(file: BundleFile): Promise<{ handle: FileHandle; size: number } | null> {
  let handle: FileHandle
  try {
    handle = await open(file.path, constants.O_RDONLY | constants.O_NOFOLLOW)
  } catch {
    return null
  }
  const stat = await handle.stat()
  if (!stat.isFile()) {
    await handle.close()
    return null
  }
  return { handle, size: stat.size }
}
