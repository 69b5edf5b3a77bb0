// Renders whatever a device returned on its error channel as one sentence for the bench report.
import { describeError, type QcowError } from '../../src/qcow/errors.js'

/** One sentence for an error value from any device the bench drives. */
export const describeAny = (error: unknown): string =>
  typeof error === 'object' && error !== null && '_tag' in error ? describeError(error as QcowError) : String(error)
