// Draws media/icon.png (128×128): a rounded violet tile with a white
// four-point sparkle and two small stars. Run: node media/make-icon.mjs
import { writeFileSync } from "node:fs";
import { deflateSync } from "node:zlib";

const N = 128;
const px = Buffer.alloc(N * N * 4);

// Distance-based coverage with 4× supersampling for smooth edges.
function inTile(x, y) {
  const r = 24, m = 4;
  const cx = Math.min(Math.max(x, m + r), N - m - r);
  const cy = Math.min(Math.max(y, m + r), N - m - r);
  return (x - cx) ** 2 + (y - cy) ** 2 <= r * r && x >= m && x <= N - m && y >= m && y <= N - m;
}
// A four-point star: |dx|^p + |dy|^p <= s^p with p < 1 gives concave sides.
function inStar(x, y, cx, cy, s) {
  const p = 0.55;
  return Math.abs(x - cx) ** p + Math.abs(y - cy) ** p <= s ** p;
}

for (let y = 0; y < N; y++) {
  for (let x = 0; x < N; x++) {
    let tile = 0, star = 0;
    for (let sy = 0; sy < 4; sy++) {
      for (let sx = 0; sx < 4; sx++) {
        const fx = x + (sx + 0.5) / 4, fy = y + (sy + 0.5) / 4;
        if (inTile(fx, fy)) {
          tile++;
          if (inStar(fx, fy, 58, 68, 40) || inStar(fx, fy, 96, 30, 14) || inStar(fx, fy, 98, 96, 9)) star++;
        }
      }
    }
    const t = (x + y) / (2 * N);
    // Gradient from violet (#6d28d9) to blue (#2563eb).
    const bg = [0x6d + (0x25 - 0x6d) * t, 0x28 + (0x63 - 0x28) * t, 0xd9 + (0xeb - 0xd9) * t];
    const k = star / Math.max(tile, 1);
    const i = (y * N + x) * 4;
    for (let c = 0; c < 3; c++) px[i + c] = Math.round(bg[c] * (1 - k) + 255 * k);
    px[i + 3] = Math.round((tile / 16) * 255);
  }
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}
const ihdr = Buffer.alloc(13);
ihdr.writeUInt32BE(N, 0);
ihdr.writeUInt32BE(N, 4);
ihdr[8] = 8; // bit depth
ihdr[9] = 6; // RGBA
const raw = Buffer.alloc(N * (N * 4 + 1));
for (let y = 0; y < N; y++) px.copy(raw, y * (N * 4 + 1) + 1, y * N * 4, (y + 1) * N * 4);
const png = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  chunk("IHDR", ihdr),
  chunk("IDAT", deflateSync(raw, { level: 9 })),
  chunk("IEND", Buffer.alloc(0)),
]);
writeFileSync(new URL("./icon.png", import.meta.url), png);
