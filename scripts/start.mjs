// `npm start`: builds only when a source changed since the last build, then runs the server in
// this process (so signals reach it directly).
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { build, isBuildCurrent, root } from './build.mjs'

if (!isBuildCurrent()) {
  const status = build()
  if (status !== 0) process.exit(status)
}
process.setSourceMapsEnabled(true)
await import(pathToFileURL(join(root, 'dist', 'src', 'main.js')).href)
