// The `qcow` command: argument parsing with commander, dispatch to one subcommand, and the exit code.
import { Command, CommanderError } from 'commander'
import { processConsole, type CliConsole } from './console.js'
import { makeContext, type CliContext } from './context.js'
import { packageVersion } from './version.js'

/** Builds one subcommand for a run. */
type MakeCommand = (ctx: CliContext) => Command

/**
 * Every subcommand, in help order, each loaded only when needed: a run loads the module of the
 * subcommand it names and nothing else, which keeps start-up short.
 */
const SUBCOMMANDS: ReadonlyArray<readonly [string, () => Promise<MakeCommand>]> = [
  ['info', async () => (await import('./info.js')).infoCommand],
  ['create', async () => (await import('./create.js')).createCommand],
  ['check', async () => (await import('./check.js')).checkCommand],
  ['map', async () => (await import('./map.js')).mapCommand],
  ['convert', async () => (await import('./convert.js')).convertCommand],
  ['compare', async () => (await import('./compare.js')).compareCommand],
  ['resize', async () => (await import('./resize.js')).resizeCommand],
  ['io', async () => (await import('./io.js')).ioCommand],
  ['commit', async () => (await import('./commit.js')).commitCommand],
  ['rebase', async () => (await import('./rebase.js')).rebaseCommand],
]

/**
 * The subcommands a command line needs: the one it names first, or all of them when it names none
 * (`--help`, `help SUB`, a misspelt name, for which commander lists or suggests them).
 */
const needed = async (argv: ReadonlyArray<string>): Promise<ReadonlyArray<MakeCommand>> => {
  const named = SUBCOMMANDS.find(([name]) => name === argv[0])
  if (named !== undefined) return [await named[1]()]
  if (argv[0] === '-V' || argv[0] === '--version') return []
  return Promise.all(SUBCOMMANDS.map(([, load]) => load()))
}

/** Sends commander's help to our console and its errors to stderr as `qcow: <sentence>`, and stops it exiting. */
const configure = (command: Command, console: CliConsole): Command =>
  command
    .configureOutput({
      writeOut: (text) => console.out(text),
      writeErr: (text) => console.err(text),
      outputError: (text, write) => write(`qcow: ${text.replace(/^error: /, '').trimEnd()}\n`),
    })
    .exitOverride()

/** `resize FILE -1G`: a leading `-` would read as an option, so the size is passed after `--`. */
const protectNegativeSize = (argv: ReadonlyArray<string>): ReadonlyArray<string> => {
  const last = argv[argv.length - 1]
  return argv[0] === 'resize' && last !== undefined && /^-[0-9]/.test(last) && !argv.includes('--')
    ? [...argv.slice(0, -1), '--', last]
    : argv
}

/** Builds the program for one run, with the subcommands `makers` build. */
const program = (context: CliContext, makers: ReadonlyArray<MakeCommand>): Command => {
  const root = configure(
    new Command('qcow')
      .description('inspect, create, check, convert and compare raw and qcow2 disk images (qemu-img compatible)')
      .version(packageVersion(), '-V, --version', 'print the version')
      .showSuggestionAfterError(false),
    context.console,
  )
  for (const make of makers) root.addCommand(configure(make(context), context.console))
  return root
}

/**
 * Runs the command line `argv` (without the node and script names) and resolves to the exit code.
 * Never rejects: failures are printed to `console` as `qcow: <file>: <sentence>`.
 */
export const main = async (argv: ReadonlyArray<string>, console: CliConsole): Promise<number> => {
  const { context, exitCode } = makeContext(console)
  if (argv.length === 0) {
    console.err('qcow: not enough arguments; try qcow --help\n')
    return 1
  }
  try {
    const args = protectNegativeSize(argv)
    await program(context, await needed(args)).parseAsync([...args], { from: 'user' })
    return exitCode()
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? 0 : 1
    }
    console.err(`qcow: internal error: ${e instanceof Error ? e.message : String(e)}\n`)
    return 1
  }
}

/** Runs `qcow` on the process's arguments and sets the process exit code. */
export const runProcess = async (): Promise<void> => {
  process.exitCode = await main(process.argv.slice(2), processConsole())
}
