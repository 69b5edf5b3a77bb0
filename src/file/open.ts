// Opening the file behind a FileBlock: flags from the configuration, and a check that it is a regular file.
import { constants } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'

/** An open regular file and its length in bytes. */
export interface OpenedFile {
  readonly file: FileHandle
  readonly bytes: number
}

/** An error carrying a system error code, for failures found after `open` succeeded. */
const systemError = (code: string, message: string): Error => Object.assign(new Error(message), { code })

/**
 * Opens `path` for reading (and writing unless `readOnly`), creating it empty when `create` is set,
 * and checks it is a regular file. Rejects with the system error otherwise; never leaks the handle.
 */
export const openRegularFile = async (path: string, readOnly: boolean, create: boolean): Promise<OpenedFile> => {
  const flags = readOnly ? constants.O_RDONLY : constants.O_RDWR | (create ? constants.O_CREAT : 0)
  const file = await open(path, flags, 0o644)
  try {
    const stat = await file.stat()
    if (stat.isDirectory()) throw systemError('EISDIR', `EISDIR: illegal operation on a directory, open '${path}'`)
    if (!stat.isFile()) throw systemError('EINVAL', `'${path}' is not a regular file`)
    return { file, bytes: stat.size }
  } catch (cause) {
    await file.close().catch(() => undefined)
    throw cause
  }
}
