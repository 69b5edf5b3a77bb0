// The byte-array model the laws compare devices with: what every sector should hold after each request.

/** A device's expected contents: plain bytes, changed the way a correct device changes. */
export class ByteModel {
  private bytes: Uint8Array

  constructor(
    contents: Uint8Array,
    readonly sectorSize: number,
  ) {
    this.bytes = contents.slice()
  }

  /** The model's size in sectors. */
  get sizeSectors(): number {
    return this.bytes.byteLength / this.sectorSize
  }

  /** The expected bytes of `sectors` sectors from `sector` (a view; copy before changing the model). */
  view(sector: number, sectors: number): Uint8Array {
    return this.bytes.subarray(sector * this.sectorSize, (sector + sectors) * this.sectorSize)
  }

  /** Stores `data` from `sector`. */
  write(sector: number, data: Uint8Array): void {
    this.bytes.set(data, sector * this.sectorSize)
  }

  /** Sets `sectors` sectors from `sector` to zeroes. */
  zero(sector: number, sectors: number): void {
    this.view(sector, sectors).fill(0)
  }

  /** Changes the size: sectors past a shrink are lost, sectors added by a growth are zeroes. */
  resize(sizeSectors: number): void {
    const next = new Uint8Array(sizeSectors * this.sectorSize)
    next.set(this.bytes.subarray(0, Math.min(this.bytes.byteLength, next.byteLength)))
    this.bytes = next
  }
}
