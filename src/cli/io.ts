// `qcow io`: a small qemu-io running read/write/discard/flush commands on one image, with qemu-io's output.
import * as E from 'fp-ts/lib/Either.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { Command } from 'commander'
import { collect, orFail, type CliContext } from './context.js'
import { failure, fromQcowError, type CliFailure } from './failure.js'
import { decodeOptionalFormat } from './format.js'
import { ioSizeToString } from './human.js'
import { openImage, withImage, type Image } from './image.js'
import { readBytes, writeBytes, zeroBytes } from './bytes.js'
import { parseIoCommand, type IoCommand } from './io-commands.js'

/** Bytes moved per device request, so a large LEN never means a large allocation. */
const CHUNK = 1024 * 1024

/** qemu-io's timing line: `4 KiB, 1 ops; 00.00 sec (5.665 MiB/sec and 1450.2590 ops/sec)`. */
const timingLine = (bytes: number, seconds: number): string => {
  const s = Math.max(seconds, 1e-6)
  const whole = Math.floor(s)
  const hundredths = Math.floor((s - whole) * 100)
  const time = `${String(whole).padStart(2, '0')}.${String(hundredths).padStart(2, '0')} sec`
  return `${ioSizeToString(bytes)}, 1 ops; ${time} (${ioSizeToString(bytes / s)}/sec and ${(1 / s).toFixed(4)} ops/sec)\n`
}

const summary = (ctx: CliContext, verb: string, offset: number, length: number, started: number): void =>
  ctx.console.out(`${verb} ${length}/${length} bytes at offset ${offset}\n${timingLine(length, (performance.now() - started) / 1000)}`)

const inRange = (image: Image, offset: number, length: number): TE.TaskEither<CliFailure, void> =>
  offset + length > image.sizeBytes
    ? TE.left(failure(`${length} bytes at offset ${offset} reach past the end of the ${image.sizeBytes}-byte disk`, image.path))
    : TE.right(undefined)

const inChunks =
  (offset: number, length: number, step: (at: number, n: number) => TE.TaskEither<CliFailure, boolean>): TE.TaskEither<CliFailure, boolean> =>
  async () => {
    let ok = true
    for (let at = offset; at < offset + length; at += CHUNK) {
      const r = await step(at, Math.min(CHUNK, offset + length - at))()
      if (E.isLeft(r)) return r
      ok = ok && r.right
    }
    return E.right(ok)
  }

const prefixed = (name: string) => (f: CliFailure): CliFailure => ({ ...f, message: `${name} failed: ${f.message}` })

/** Runs one command; the result is false when a read found bytes that differ from its pattern. */
const runOne = (ctx: CliContext, image: Image, c: IoCommand): TE.TaskEither<CliFailure, boolean> => {
  const started = performance.now()
  switch (c.op) {
    case 'flush':
      return pipe(image.disk.flush(), TE.mapLeft(fromQcowError(image.path)), TE.mapLeft(prefixed('flush')), TE.map(() => true))
    case 'read':
      return pipe(
        inRange(image, c.offset, c.length),
        TE.chain(() =>
          inChunks(c.offset, c.length, (at, n) =>
            pipe(
              readBytes(image, at, n),
              TE.map((data) => c.pattern === undefined || data.every((b) => b === c.pattern)),
            ),
          ),
        ),
        TE.mapLeft(prefixed('read')),
        TE.map((matches) => {
          if (!matches) ctx.console.out(`Pattern verification failed at offset ${c.offset}, ${c.length} bytes\n`)
          if (!c.quiet) summary(ctx, 'read', c.offset, c.length, started)
          return matches
        }),
      )
    case 'write': {
      const fill = c.fill
      return pipe(
        inRange(image, c.offset, c.length),
        TE.chain(() =>
          fill === 'zero'
            ? pipe(zeroBytes(image, c.offset, c.length, c.unmap ? 'zero-unmap' : 'zero'), TE.map(() => true))
            : inChunks(c.offset, c.length, (at, n) => pipe(writeBytes(image, at, new Uint8Array(n).fill(fill)), TE.map(() => true))),
        ),
        TE.mapLeft(prefixed('write')),
        TE.map(() => {
          if (!c.quiet) summary(ctx, 'wrote', c.offset, c.length, started)
          return true
        }),
      )
    }
    case 'discard':
      return pipe(
        inRange(image, c.offset, c.length),
        TE.chain(() => zeroBytes(image, c.offset, c.length, 'discard')),
        TE.mapLeft(prefixed('discard')),
        TE.map(() => {
          if (!c.quiet) summary(ctx, 'discard', c.offset, c.length, started)
          return true
        }),
      )
  }
}

/** Runs the commands in order, stopping at the first failure; exit 1 when a pattern check failed. */
export const runIoCommands = (ctx: CliContext, image: Image, commands: ReadonlyArray<IoCommand>): TE.TaskEither<CliFailure, number> =>
  async () => {
    let code = 0
    for (const c of commands) {
      const r = await runOne(ctx, image, c)()
      if (E.isLeft(r)) return r
      if (!r.right) code = 1
    }
    return E.right(code)
  }

interface IoFlags {
  readonly allowBackingPath?: boolean
  readonly cmd?: ReadonlyArray<string>
  readonly readOnly?: boolean
  readonly format?: string
}

const run = (ctx: CliContext, file: string, flags: IoFlags): TE.TaskEither<CliFailure, number> =>
  pipe(
    E.Do,
    E.bind('format', () => orFail(decodeOptionalFormat(flags.format))),
    E.bind('commands', () => E.traverseArray((text: string) => orFail(parseIoCommand(text)))(flags.cmd ?? [])),
    E.filterOrElse(
      ({ commands }) => commands.length > 0,
      () => failure('no command given: pass one or more -c CMD (there is no interactive mode)'),
    ),
    TE.fromEither,
    TE.chain(({ format, commands }) =>
      pipe(
        openImage(file, { allowBackingPath: flags.allowBackingPath === true, readOnly: flags.readOnly === true, ...(format === undefined ? {} : { format }) }),
        withImage((image) => runIoCommands(ctx, image, commands)),
      ),
    ),
  )

/** The `io` subcommand. */
export const ioCommand = (ctx: CliContext): Command =>
  new Command('io')
    .description('run qemu-io style commands on an image: read, write, discard, flush')
    .argument('<file>', 'image file')
    .option('-c, --cmd <command>', 'command to run (repeatable, run in order): "read [-P pattern] OFF LEN", "write [-P pattern | -z [-u]] OFF LEN", "discard OFF LEN", "flush"', collect)
    .option('-r, --read-only', 'open the image read-only')
    .option('-f, --format <fmt>', 'image format; probed when absent')
    .option('--allow-backing-path', 'allow backing files outside the image\'s directory')
    .action(async (file: string, flags: IoFlags) => ctx.finish(await run(ctx, file, flags)()))
