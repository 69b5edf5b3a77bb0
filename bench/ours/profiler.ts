// Profiles only the timed part of a worker job with the inspector (startup and module loading left out).
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'

/** Sampling interval of the profiler, in microseconds. */
const SAMPLING_US = 200

/**
 * Runs `body`; when `file` is not null, under the V8 CPU profiler, writing the profile to `file` (a
 * `.cpuprofile`) and `process.memoryUsage()` as it stood when `body` finished to `file.memory.json`.
 */
export const profiled = async <A>(file: string | null, body: () => Promise<A>): Promise<A> => {
  if (file === null) return body()
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.setSamplingInterval', { interval: SAMPLING_US })
  await session.post('Profiler.start')
  try {
    return await body()
  } finally {
    const memory = process.memoryUsage()
    const { profile } = await session.post('Profiler.stop')
    session.disconnect()
    writeFileSync(file, JSON.stringify(profile))
    writeFileSync(`${file}.memory.json`, JSON.stringify(memory))
  }
}
