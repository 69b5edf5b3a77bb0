// Human-readable numbers as qemu prints them: "196 KiB" (qemu-img) and "1.500 KiB" (qemu-io).

const UNITS = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei']

/** C's `%0.3g`, the form qemu-img's size_to_str uses. */
const threeSignificant = (value: number): string => {
  const text = value.toPrecision(3)
  if (text.includes('e')) {
    const [mantissa, exponent] = text.split('e')
    const trimmed = mantissa.includes('.') ? mantissa.replace(/\.?0+$/, '') : mantissa
    const sign = exponent.startsWith('-') ? '-' : '+'
    return `${trimmed}e${sign}${exponent.replace(/^[+-]/, '').padStart(2, '0')}`
  }
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text
}

/** A byte count as qemu-img's `size_to_str` renders it, e.g. `196 KiB`, `1 GiB`, `512 B`. */
export const sizeToString = (bytes: number): string => {
  const exponent = bytes === 0 ? 0 : Math.floor(Math.log2(bytes / (1000 / 1024))) + 1
  const unit = Math.max(0, Math.min(UNITS.length - 1, Math.floor((exponent - 1) / 10)))
  return `${threeSignificant(bytes / 2 ** (unit * 10))} ${UNITS[unit]}B`
}

const IO_UNITS: ReadonlyArray<readonly [number, string]> = [
  [2 ** 60, 'EiB'],
  [2 ** 50, 'PiB'],
  [2 ** 40, 'TiB'],
  [2 ** 30, 'GiB'],
  [2 ** 20, 'MiB'],
  [2 ** 10, 'KiB'],
]

/** A byte count as qemu-io's `cvtstr` renders it, e.g. `4 KiB`, `1.500 KiB`, `1000 bytes`. */
export const ioSizeToString = (bytes: number): string => {
  for (const [size, name] of IO_UNITS) {
    if (bytes >= size) return `${(bytes / size).toFixed(3).replace(/\.000$/, '')} ${name}`
  }
  return `${bytes} bytes`
}
