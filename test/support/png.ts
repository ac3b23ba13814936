/**
 * Reads a PNG as far as a viewer must to show it: the signature, the IHDR chunk, every chunk's CRC,
 * and the IDAT stream inflated to exactly one filter byte plus one row of pixels per line.
 */
import { crc32, inflateSync } from "node:zlib";

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Bytes per pixel for each PNG colour type at 8 bits a sample. */
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

export interface DecodedPng {
  width: number;
  height: number;
  colorType: number;
  /** Inflated image data (filter bytes included). */
  rawBytes: number;
}

/** Decodes a PNG's structure; throws with the reason when it is not a valid 8-bit PNG. */
export function decodePng(bytes: Uint8Array): DecodedPng {
  const buf = Buffer.from(bytes);
  if (!buf.subarray(0, 8).equals(SIGNATURE)) throw new Error("not a PNG: bad signature");
  let offset = 8;
  let header: { width: number; height: number; bitDepth: number; colorType: number } | null = null;
  const idat: Buffer[] = [];
  let ended = false;
  while (offset < buf.length && !ended) {
    const length = buf.readUInt32BE(offset);
    const type = buf.toString("latin1", offset + 4, offset + 8);
    const data = buf.subarray(offset + 8, offset + 8 + length);
    const crc = buf.readUInt32BE(offset + 8 + length);
    if (crc32(buf.subarray(offset + 4, offset + 8 + length)) !== crc) throw new Error(`bad CRC in ${type}`);
    if (type === "IHDR") {
      header = {
        width: data.readUInt32BE(0),
        height: data.readUInt32BE(4),
        bitDepth: data[8]!,
        colorType: data[9]!,
      };
    } else if (type === "IDAT") idat.push(data);
    else if (type === "IEND") ended = true;
    offset += 12 + length;
  }
  if (!header) throw new Error("no IHDR chunk");
  if (!ended) throw new Error("no IEND chunk");
  const channels = CHANNELS[header.colorType];
  if (header.bitDepth !== 8 || channels === undefined) throw new Error("not an 8-bit PNG");
  const raw = inflateSync(Buffer.concat(idat));
  const expected = header.height * (1 + header.width * channels);
  if (raw.length !== expected) throw new Error(`image data is ${raw.length} bytes, expected ${expected}`);
  return { width: header.width, height: header.height, colorType: header.colorType, rawBytes: raw.length };
}
