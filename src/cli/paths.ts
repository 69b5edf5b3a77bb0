// How qemu names a backing file relative to the image that records it.

/** qemu's path_combine: a relative backing name is taken from the image's directory, without normalising. */
export const combinePaths = (imagePath: string, backing: string): string =>
  backing.startsWith('/') || !imagePath.includes('/') ? backing : `${imagePath.slice(0, imagePath.lastIndexOf('/') + 1)}${backing}`
