// The `qcow` command: argument parsing with commander, dispatch to one subcommand, and the exit code.
import { Command, CommanderError } from 'commander'
import { checkCommand } from './check.js'
import { commitCommand } from './commit.js'
import { compareCommand } from './compare.js'
import { processConsole, type CliConsole } from './console.js'
import { makeContext, type CliContext } from './context.js'
import { convertCommand } from './convert.js'
import { createCommand } from './create.js'
import { infoCommand } from './info.js'
import { ioCommand } from './io.js'
import { mapCommand } from './map.js'
import { rebaseCommand } from './rebase.js'
import { resizeCommand } from './resize.js'
import { packageVersion } from './version.js'

const SUBCOMMANDS: ReadonlyArray<(ctx: CliContext) => Command> = [
  infoCommand,
  createCommand,
  checkCommand,
  mapCommand,
  convertCommand,
  compareCommand,
  resizeCommand,
  ioCommand,
  commitCommand,
  rebaseCommand,
]

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

/** Builds the program for one run. */
const program = (context: CliContext): Command => {
  const root = configure(
    new Command('qcow')
      .description('inspect, create, check, convert and compare raw and qcow2 disk images (qemu-img compatible)')
      .version(packageVersion(), '-V, --version', 'print the version')
      .showSuggestionAfterError(false),
    context.console,
  )
  for (const make of SUBCOMMANDS) root.addCommand(configure(make(context), context.console))
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
    await program(context).parseAsync([...protectNegativeSize(argv)], { from: 'user' })
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
