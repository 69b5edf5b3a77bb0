// Smoke test of the built package under plain Node: imports dist/ (where fp-ts/io-ts import paths would break), does a RamDisk round trip and runs the conformance laws briefly.
const fail = (message) => {
  console.error(`dist smoke test failed: ${message}`)
  process.exit(1)
}

const main = async () => {
  const lib = await import(new URL('../../dist/index.js', import.meta.url).href)
  for (const name of ['RamDisk', 'FileBlock', 'readOnly', 'slice', 'describeBlockError']) {
    if (lib[name] === undefined) fail(`dist/index.js does not export ${name}`)
  }
  const opened = await lib.RamDisk.connect({ size: 1024 * 1024 })()
  if (opened._tag !== 'Right') fail(`RamDisk.connect returned ${JSON.stringify(opened)}`)
  const disk = opened.right
  const data = new Uint8Array(1024).map((_, i) => (i * 7 + 3) & 0xff)
  const written = await disk.write(5, [data.subarray(0, 512), data.subarray(512)])()
  if (written._tag !== 'Right') fail(`write returned ${lib.describeBlockError(written.left)}`)
  const back = new Uint8Array(1024)
  const read = await disk.read(5, [back])()
  if (read._tag !== 'Right') fail(`read returned ${lib.describeBlockError(read.left)}`)
  if (!back.every((b, i) => b === data[i])) fail('read did not return the bytes written')
  const refused = await lib.RamDisk.connect({ size: 'big' })()
  if (refused._tag !== 'Left') fail('a bad RamDisk configuration was accepted')
  const conformance = await import(new URL('../../dist/block/conformance/index.js', import.meta.url).href)
  const factory = async () => {
    const fresh = await lib.RamDisk.connect({ size: 16 * 512 })()
    return { device: fresh.right, sizeSectors: 16, readWrite: true, release: async () => void (await fresh.right.disconnect()()) }
  }
  const laws = conformance.conformanceLaws(factory, { numRuns: 5 })
  if (laws.length === 0) fail('conformanceLaws returned no laws')
  for (const law of laws) await law.run().catch((cause) => fail(`law "${law.name}" failed on RamDisk: ${cause}`))
  console.log(`dist smoke test passed (RamDisk round trip, ${laws.length} conformance laws)`)
}

main().catch((cause) => fail(cause instanceof Error ? cause.stack : String(cause)))
