// Tests of the command's parsers: sizes, -o options (with their accepted ranges), formats and qemu-io commands.
import { existsSync } from 'node:fs'
import { fc, test } from '@fast-check/vitest'
import * as E from 'fp-ts/lib/Either.js'
import { describe, expect, it } from 'vitest'
import { parseIoCommand, parsePattern } from '../../src/cli/io-commands.js'
import { decodeImageOptions, splitKeyValues } from '../../src/cli/options.js'
import { applySizeChange, parseSize, parseSizeChange } from '../../src/cli/size.js'
import { describeWithQemu, qemuImg, useTempDir } from '../support/qemu.js'
import { qcow } from './harness.js'

const UNITS = { k: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40, P: 2 ** 50, E: 2 ** 60 } as const

describe('parseSize', () => {
  test.prop([fc.maxSafeNat()])('plain decimal and 0x hex give the number', (n) => {
    expect(parseSize(String(n))).toEqual(E.right(n))
    expect(parseSize(`0x${n.toString(16)}`)).toEqual(E.right(n))
  })

  test.prop([fc.nat({ max: 1 << 20 }), fc.constantFrom(...(Object.keys(UNITS) as Array<keyof typeof UNITS>)), fc.boolean()])(
    'a suffix multiplies by its power of 1024 (either case); results past 2^53 are refused',
    (n, unit, lower) => {
      const got = parseSize(`${n}${lower ? unit.toLowerCase() : unit}`)
      const want = n * UNITS[unit]
      if (Number.isSafeInteger(want)) expect(got).toEqual(E.right(want))
      else expect(E.isLeft(got)).toBe(true)
    },
  )

  test.prop([fc.nat({ max: 1000 }), fc.integer({ min: 0, max: 999 })])('a fraction needs a suffix and is truncated to bytes', (n, f) => {
    const frac = String(f).padStart(3, '0')
    expect(parseSize(`${n}.${frac}k`)).toEqual(E.right(n * 1024 + Math.floor(Number(`0.${frac}`) * 1024)))
    expect(E.isLeft(parseSize(`${n}.${frac}`))).toBe(true)
  })

  it.each(['', '-1', '1Q', '1kk', '10kB', '0x1.8k', 'k', '1 k', '9007199254740992'])('refuses "%s", naming the accepted forms', (text) => {
    const r = parseSize(text)
    expect(r).toEqual(E.left(expect.stringMatching(/k, M, G, T, P or E suffix .*from 0 to 9007199254740991 bytes/)))
  })

  it('resize sizes: relative changes and their limits', () => {
    const change = (t: string) => E.getOrElseW(() => undefined)(parseSizeChange(t))
    expect(change('+1M')).toEqual({ kind: 'grow', bytes: 2 ** 20 })
    expect(change('-64k')).toEqual({ kind: 'shrink', bytes: 65536 })
    expect(change('10G')).toEqual({ kind: 'absolute', bytes: 10 * 2 ** 30 })
    expect(applySizeChange(100, { kind: 'shrink', bytes: 200 })).toEqual(E.left(expect.stringMatching(/negative/)))
    expect(applySizeChange(Number.MAX_SAFE_INTEGER, { kind: 'grow', bytes: 1 })).toEqual(E.left(expect.stringMatching(/at most/)))
  })
})

describe('-o options', () => {
  test.prop([fc.array(fc.tuple(fc.stringMatching(/^[a-z_]{1,8}$/), fc.string({ maxLength: 8 }).filter((v) => !v.includes('='))), { maxLength: 5 })])(
    'key=value lists round-trip through ",," escaping',
    (pairs) => {
      const text = pairs.map(([k, v]) => `${k}=${v.replaceAll(',', ',,')}`).join(',')
      expect(splitKeyValues(text)).toEqual(E.right(pairs))
    },
  )

  test.prop([fc.integer({ min: 9, max: 21 }), fc.constantFrom(1, 2, 4, 8, 16, 32, 64), fc.boolean()])(
    'every valid qcow2 combination decodes to typed options',
    (bits, refcountBits, lazy) => {
      const r = decodeImageOptions('qcow2', [`cluster_size=${2 ** bits},refcount_bits=${refcountBits}`, `lazy_refcounts=${lazy ? 'on' : 'off'},compat=1.1`])
      expect(r).toEqual(E.right({ clusterSize: 2 ** bits, refcountBits, lazyRefcounts: lazy, compat: '1.1' }))
    },
  )

  it.each([
    ['cluster_size=1000', /cluster_size must be a power of two from 512 to 2M \(2097152\) bytes, got '1000'/],
    ['cluster_size=4M', /cluster_size must be a power of two from 512 to 2M/],
    ['cluster_size=256', /cluster_size must be a power of two from 512 to 2M/],
    ['refcount_bits=3', /refcount_bits must be 1, 2, 4, 8, 16, 32 or 64, got '3'/],
    ['refcount_bits=128', /refcount_bits must be 1, 2, 4, 8, 16, 32 or 64/],
    ['compat=2', /compat must be 0.10 \(or v2\) or 1.1 \(or v3\), got '2'/],
    ['lazy_refcounts=maybe', /lazy_refcounts must be on or off, got 'maybe'/],
    ['compat=0.10,lazy_refcounts=on', /lazy_refcounts=on needs compat=1.1/],
    ['compat=0.10,refcount_bits=8', /refcount_bits other than 16 need compat=1.1/],
    ['foo=1', /invalid parameter 'foo' for format qcow2; accepted: size, cluster_size, compat, refcount_bits, lazy_refcounts/],
    ['cluster_size', /options are given as key=value/],
  ])('-o %s is refused with the accepted values', (text, message) => {
    expect(decodeImageOptions('qcow2', [text])).toEqual(E.left(expect.stringMatching(message)))
  })

  it('raw images accept only size', () => {
    expect(decodeImageOptions('raw', ['size=1M'])).toEqual(E.right({ size: 2 ** 20 }))
    expect(decodeImageOptions('raw', ['cluster_size=4k'])).toEqual(E.left("invalid parameter 'cluster_size' for format raw; accepted: size"))
  })
})

describe('qemu-io commands', () => {
  test.prop([fc.integer({ min: 0, max: 255 })])('pattern bytes in decimal, hex and octal', (n) => {
    expect(parsePattern(String(n))).toEqual(E.right(n))
    expect(parsePattern(`0x${n.toString(16)}`)).toEqual(E.right(n))
    expect(parsePattern(`0${n.toString(8)}`)).toEqual(E.right(n))
  })

  it('parses each command form', () => {
    expect(parseIoCommand('read -P 0xab 64k 4k')).toEqual(E.right({ op: 'read', offset: 65536, length: 4096, pattern: 0xab, quiet: false }))
    expect(parseIoCommand('write 0 512')).toEqual(E.right({ op: 'write', offset: 0, length: 512, fill: 0xcd, unmap: false, quiet: false }))
    expect(parseIoCommand('write -z -u 1M 1M')).toEqual(E.right({ op: 'write', offset: 2 ** 20, length: 2 ** 20, fill: 'zero', unmap: true, quiet: false }))
    expect(parseIoCommand('  discard -q 0 1k ')).toEqual(E.right({ op: 'discard', offset: 0, length: 1024, quiet: true }))
    expect(parseIoCommand('flush')).toEqual(E.right({ op: 'flush' }))
  })

  it.each([
    ['read -P 300 0 1', /300 is not a valid pattern byte \(0 to 255/],
    ['write -z -P 1 0 1', /-z and -P cannot be combined/],
    ['write -u 0 1', /-u needs -z/],
    ['read 0', /bad argument count 1 to read/],
    ['frobnicate', /command "frobnicate" not found; accepted: read, write, discard, flush/],
    ['discard -P 1 0 1', /unknown option '-P'; accepted: -q/],
    ['flush now', /flush takes no arguments/],
  ])('refuses "%s"', (text, message) => {
    expect(parseIoCommand(text)).toEqual(E.left(expect.stringMatching(message)))
  })
})

describeWithQemu('bad option values on the command line, against qemu-img', () => {
  const tmp = useTempDir('qcow-cli-opts-')
  it.each([
    ['cluster_size=1000', 'cluster_size must be a power of two from 512 to 2M'],
    ['refcount_bits=3', 'refcount_bits must be 1, 2, 4, 8, 16, 32 or 64'],
    ['compat=0.10,lazy_refcounts=on', 'lazy_refcounts=on needs compat=1.1'],
    ['foo=1', "invalid parameter 'foo'"],
  ])('create -f qcow2 -o %s: exit 1 like qemu-img, one stderr line, nothing created', async (options, message) => {
    const ours = tmp.file(`opt-ours-${options}`)
    const o = await qcow(['create', '-f', 'qcow2', '-o', options, ours, '1G'])
    const q = await qemuImg(['create', '-f', 'qcow2', '-o', options, tmp.file(`opt-qemu-${options}`), '1G'])
    expect(o.code).toBe(q.code)
    expect(o.code).toBe(1)
    expect(o.stderr).toContain(message)
    expect(o.stderr.trimEnd().split('\n')).toHaveLength(1)
    expect(existsSync(ours)).toBe(false)
  })

  it.each([
    [['info', '--output=xml', 'x'], /--output must be human or json, got 'xml'/],
    [['info', '-f', 'vmdk', 'x'], /unknown file format 'vmdk'; accepted: raw, qcow2/],
    [['check', '-r', 'some', 'x'], /-r must be leaks or all, got 'some'/],
    [['convert', '-O', 'qcow', 'a', 'b'], /unknown file format 'qcow'; accepted: raw, qcow2/],
    [['convert', '-O', 'raw', '-o', 'size=1M', 'a', 'b'], /convert takes the size from the source image; -o size is not accepted/],
    [['io', 'x'], /no command given: pass one or more -c CMD/],
  ])('%j is refused with the accepted values', async (args, message) => {
    const o = await qcow(args)
    expect(o.code).toBe(1)
    expect(o.stderr).toMatch(message)
  })
})
